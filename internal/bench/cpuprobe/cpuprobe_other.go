//go:build !linux

package cpuprobe

import "time"

func firstTwoCPUs() ([2]int, error) { return [2]int{}, ErrUnsupported }

func pingPong([2]int, int, int, time.Duration) (time.Duration, error) { return 0, ErrUnsupported }
