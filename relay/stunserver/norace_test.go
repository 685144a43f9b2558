//go:build !race

package stunserver

const raceEnabled = false
