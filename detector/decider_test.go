package detector

import (
	"testing"
	"time"
)

func TestDecider(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) SampleMatch { return SampleMatch{At: t0.Add(time.Duration(s * float64(time.Second)))} }
	tests := []struct {
		name    string
		policy  Policy
		samples []float64
		fireAt  int // index of the sample that fires, -1 for none
	}{
		{"one is enough", Policy{MinMatches: 1, Window: 0}, []float64{0}, 0},
		{"two in window", DefaultPolicy, []float64{0, 2}, 1},
		{"two too far apart", DefaultPolicy, []float64{0, 10, 20.5}, -1},
		{"third inside the window of the second", DefaultPolicy, []float64{0, 11, 15}, 2},
		{"three of three", Policy{MinMatches: 3, Window: 5 * time.Second}, []float64{0, 1, 6, 7, 8}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.policy.Validate(); err != nil {
				t.Fatal(err)
			}
			d := NewDecider(tt.policy)
			fired := -1
			for i, s := range tt.samples {
				v, ok := d.Observe(at(s))
				if ok {
					if len(v.Matches) != tt.policy.MinMatches {
						t.Errorf("verdict carries %d samples, want %d", len(v.Matches), tt.policy.MinMatches)
					}
					fired = i
					break
				}
			}
			if fired != tt.fireAt {
				t.Fatalf("fired at sample %d, want %d", fired, tt.fireAt)
			}
		})
	}
}

func TestPolicyValidate(t *testing.T) {
	for _, p := range []Policy{{MinMatches: 0, Window: time.Second}, {MinMatches: 2, Window: 0}} {
		if p.Validate() == nil {
			t.Errorf("policy %+v accepted", p)
		}
	}
}
