package idempotent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/petrel-mq/petrel/client"
)

// Defaults of RedisConfig fields left zero.
const (
	DefaultProcessingTTL = 5 * time.Minute
	DefaultDoneTTL       = 7 * 24 * time.Hour
)

// RedisConfig configures a RedisStore.
type RedisConfig struct {
	// Prefix starts every key (e.g. "petrel:consumed:<group>:").
	Prefix string
	// Key picks the dedup key; nil means the message id.
	Key KeyFunc
	// ProcessingTTL is how long a processing mark lives: after a consumer
	// crashed mid-processing, its message waits this long before another
	// delivery may run it. It must exceed the handler's longest run, or a
	// slow handler's message may run twice. Zero means 5 min.
	ProcessingTTL time.Duration
	// DoneTTL is how long a done mark lives: longer than a message can be
	// redelivered. Zero means 7 days.
	DoneTTL time.Duration
}

// RedisStore records keys in Redis.
type RedisStore struct {
	rdb redis.UniversalClient
	cfg RedisConfig
}

// NewRedisStore returns a store on rdb.
func NewRedisStore(rdb redis.UniversalClient, cfg RedisConfig) *RedisStore {
	if cfg.ProcessingTTL <= 0 {
		cfg.ProcessingTTL = DefaultProcessingTTL
	}
	if cfg.DoneTTL <= 0 {
		cfg.DoneTTL = DefaultDoneTTL
	}
	return &RedisStore{rdb: rdb, cfg: cfg}
}

const (
	markDone       = "done"
	markProcessing = "processing:" // + the owner's token
)

// Only the consumer that set a processing mark may clear or complete it:
// after its mark expired, another consumer's mark must survive it.
var (
	releaseScript  = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)
	completeScript = redis.NewScript(`local v = redis.call("GET", KEYS[1])
if v == ARGV[1] or v == false then redis.call("SET", KEYS[1], "done", "PX", ARGV[2]) return 1 end
return 0`)
)

// Wrap returns a handler that runs h unless the key is done: it marks the
// key processing (SET NX PX), runs h, then marks it done; if h fails it
// removes the mark and returns h's error. A key done before is skipped
// (nil); a key another consumer is processing returns ErrInProgress.
func (s *RedisStore) Wrap(h Handler) Handler {
	return func(ctx context.Context, m *client.MessageExt) error {
		key := s.cfg.Prefix + keyOf(s.cfg.Key, m)
		var tok [8]byte
		rand.Read(tok[:])
		mine := markProcessing + hex.EncodeToString(tok[:])
		ok, err := s.rdb.SetNX(ctx, key, mine, s.cfg.ProcessingTTL).Result()
		if err != nil {
			return fmt.Errorf("idempotent: mark %s: %w", key, err)
		}
		if !ok {
			v, err := s.rdb.Get(ctx, key).Result()
			switch {
			case errors.Is(err, redis.Nil):
				return fmt.Errorf("%w: %s (its mark just expired)", ErrInProgress, key)
			case err != nil:
				return fmt.Errorf("idempotent: read %s: %w", key, err)
			case v == markDone:
				return nil
			}
			return fmt.Errorf("%w: %s", ErrInProgress, key)
		}
		if err := h(ctx, m); err != nil {
			// A fresh context: the handler's may have ended, and a stale
			// mark would block the retry for ProcessingTTL.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if rerr := releaseScript.Run(rctx, s.rdb, []string{key}, mine).Err(); rerr != nil {
				return errors.Join(err, fmt.Errorf("idempotent: clear %s (it expires after %v): %w", key, s.cfg.ProcessingTTL, rerr))
			}
			return err
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := completeScript.Run(cctx, s.rdb, []string{key}, mine, s.cfg.DoneTTL.Milliseconds()).Err(); err != nil {
			// The effect happened; without the mark a redelivery repeats it.
			return fmt.Errorf("idempotent: mark %s done: %w", key, err)
		}
		return nil
	}
}

// Done reports whether key (without the prefix) is marked done.
func (s *RedisStore) Done(ctx context.Context, key string) (bool, error) {
	v, err := s.rdb.Get(ctx, s.cfg.Prefix+key).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("idempotent: %w", err)
	}
	return v == markDone, nil
}
