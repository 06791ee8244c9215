// Package chaostest holds the chaos test: load-balanced tasks with retries
// while engines are killed and stopped, the controller is killed once and
// a client stalls. It has no code of its own.
package chaostest
