// Package packetbuf pools packet buffers in a few size classes, so a
// relayed packet costs no allocation in steady state and a 64 KiB buffer is
// never held for a 100-byte disco message.
package packetbuf

import "sync"

var packetClasses = [...]int{256, 2 << 10, 16 << 10, 64 << 10}

var packetPools [len(packetClasses)]sync.Pool

func init() {
	for i, size := range packetClasses {
		packetPools[i].New = func() any {
			b := make([]byte, size)
			return &b
		}
	}
}

// Get returns a buffer of length n (n ≤ 64 KiB).
func Get(n int) *[]byte {
	for i, size := range packetClasses {
		if n <= size {
			bp := packetPools[i].Get().(*[]byte)
			*bp = (*bp)[:n]
			return bp
		}
	}
	b := make([]byte, n)
	return &b
}

// Put returns a buffer obtained from Get.
func Put(bp *[]byte) {
	c := cap(*bp)
	for i, size := range packetClasses {
		if c == size {
			packetPools[i].Put(bp)
			return
		}
	}
}
