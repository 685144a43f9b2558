//go:build !race

package readahead

const underRace = false
