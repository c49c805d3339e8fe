//go:build invariants || race

package group

// invariants turns on Group.check after every input.
const invariants = true
