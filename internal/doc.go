// Package internal is the ground floor of relayctl: the packages below it
// (key files, certificates, metrics, rendering, test labs) are shared by
// relay/, probe/, config/ and cmd/, and import none of them, so any of
// those can use any internal package without an import cycle or a hidden
// dependency on the relay. TestGroundFloor enforces it, tests included.
package internal
