package hub

import "testing"

// The governor goes wide at once when one P is nearly used up, and back
// to one P only after a whole calm spell.
func TestProcsStep(t *testing.T) {
	type tick struct {
		cores         float64
		wide, changed bool
	}
	ticks := []tick{
		{0.2, false, false},
		{0.89, false, false},
		{0.95, true, true}, // one P nearly used up: every core
		{1.6, true, false},
		{0.5, true, false},  // a calm spell starts
		{0.85, true, false}, // and is broken
	}
	for range procsCalmed - 1 {
		ticks = append(ticks, tick{0.3, true, false})
	}
	ticks = append(ticks, tick{0.3, false, true}) // a whole calm spell: one P
	var s procsState
	for i, tk := range ticks {
		wide, changed := s.step(tk.cores)
		if wide != tk.wide || changed != tk.changed {
			t.Fatalf("tick %d (%.2f cores): wide %v changed %v, want %v %v", i, tk.cores, wide, changed, tk.wide, tk.changed)
		}
	}
}
