package remoting

import (
	"math/bits"
	"sync"
)

// Request bodies a Server recycles (Server.RecycleBody) come from pools by
// size class, powers of two from 1 KiB to 64 KiB; larger bodies are
// allocated as before. A send's body was a quarter of the bytes a broker
// under 16 synchronous producers allocated, and with it a quarter of its
// garbage collections.
const (
	minPooledBodyShift = 10
	bodyClasses        = 7 // 1 KiB << 6 = 64 KiB
	maxPooledBody      = 1 << (minPooledBodyShift + bodyClasses - 1)
)

var bodyPools [bodyClasses]sync.Pool

// bodyClass is the pool for bodies of n bytes (1 <= n <= maxPooledBody).
func bodyClass(n int) int {
	if n <= 1<<minPooledBodyShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minPooledBodyShift
}

// getBody returns a pooled buffer that holds n bytes, or nil if n is too
// large to pool.
func getBody(n int) *[]byte {
	if n > maxPooledBody {
		return nil
	}
	c := bodyClass(n)
	if p, ok := bodyPools[c].Get().(*[]byte); ok {
		return p
	}
	b := make([]byte, 1<<(c+minPooledBodyShift))
	return &b
}

// putBody returns a buffer from getBody to its pool.
func putBody(p *[]byte) {
	bodyPools[bodyClass(cap(*p))].Put(p)
}
