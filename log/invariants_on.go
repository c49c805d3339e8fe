//go:build invariants || race

package log

// invariants turns on expensive self-checks: test and race builds pay for
// them, production builds do not.
const invariants = true
