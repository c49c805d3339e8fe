//go:build !(invariants || race)

package log

const invariants = false
