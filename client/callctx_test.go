package client

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestCallContext: a listener call's context keeps the context contract:
// Err is nil until Done is closed, and expire ends it once, whether Done
// was asked for before or after.
func TestCallContext(t *testing.T) {
	deadline := time.Now().Add(time.Minute)
	early := newCallContext(deadline)
	if d, ok := early.Deadline(); !ok || !d.Equal(deadline) {
		t.Fatalf("deadline %v %v", d, ok)
	}
	done := early.Done()
	select {
	case <-done:
		t.Fatal("done before expire")
	default:
	}
	if early.Err() != nil {
		t.Fatal("error before expire")
	}
	early.expire()
	early.expire() // idempotent
	<-done
	if !errors.Is(early.Err(), context.DeadlineExceeded) {
		t.Fatalf("err %v", early.Err())
	}
	late := newCallContext(deadline)
	late.expire()
	<-late.Done()
	// Contexts derived from it end with it.
	parent := newCallContext(deadline)
	child, cancel := context.WithCancel(parent)
	defer cancel()
	parent.expire()
	<-child.Done()
	if !errors.Is(child.Err(), context.DeadlineExceeded) {
		t.Fatalf("child err %v", child.Err())
	}
}
