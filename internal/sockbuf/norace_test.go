//go:build !race

package sockbuf

const underRace = false
