package message

import (
	"errors"
	"fmt"
)

// ErrInvalidTopic is wrapped by ValidateTopic's errors.
var ErrInvalidTopic = errors.New("invalid topic")

// ValidateTopic applies RocketMQ's topic rule: 1 to 127 characters from
// [%|a-zA-Z0-9_-]. The rule also keeps topics safe as directory names: no
// separators, no dots, so no path tricks.
func ValidateTopic(topic string) error {
	if topic == "" {
		return fmt.Errorf("%w: the topic name is empty", ErrInvalidTopic)
	}
	if len(topic) > MaxTopicLength {
		return fmt.Errorf("%w: the topic name is %d characters, longer than %d", ErrInvalidTopic, len(topic), MaxTopicLength)
	}
	for i := 0; i < len(topic); i++ {
		if !topicChar(topic[i]) {
			return fmt.Errorf("%w: the topic name %q contains %q; allowed are letters, digits, %%, |, _ and -", ErrInvalidTopic, topic, topic[i])
		}
	}
	return nil
}

func topicChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '%' || c == '|' || c == '_' || c == '-'
}
