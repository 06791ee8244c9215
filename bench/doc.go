// Package bench holds pxsh's benchmark suite (make bench). Each benchmark
// starts a real cluster (controller and engine processes on loopback),
// measures a fixed number of operations and reports medians or rates with
// b.ReportMetric; run them with -benchtime 1x.
package bench
