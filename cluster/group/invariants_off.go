//go:build !(invariants || race)

package group

const invariants = false
