package main

import (
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress shows how far long phases are: bars on a terminal (stderr),
// JSON events with --json (stdout), nothing otherwise.
type progress struct {
	mu    sync.Mutex
	bars  io.Writer // stderr when it is a terminal
	json  *json.Encoder
	bar   *progressbar.ProgressBar
	phase string
	last  time.Time
}

type progressEvent struct {
	Type  string `json:"type"`
	Phase string `json:"phase"`
	Done  int64  `json:"done"`
	Total int64  `json:"total"`
}

func newProgress(io *streams, asJSON bool) *progress {
	p := &progress{}
	switch {
	case asJSON:
		p.json = json.NewEncoder(io.stdout)
	case isTerminal(io.stderr):
		p.bars = io.stderr
	}
	return p
}

// update is told that phase has done of total; it may be called from any
// goroutine.
func (p *progress) update(phase, description string, done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.json != nil {
		// Twice a second is plenty for a machine, and the last one always.
		if now := time.Now(); done == total || phase != p.phase || now.Sub(p.last) >= 500*time.Millisecond {
			p.phase, p.last = phase, now
			p.json.Encode(progressEvent{Type: "progress", Phase: phase, Done: done, Total: total})
		}
		return
	}
	if p.bars == nil {
		return
	}
	if p.bar == nil || phase != p.phase {
		p.finishLocked()
		p.phase = phase
		p.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(p.bars),
			progressbar.OptionSetDescription(description),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowTotalBytes(true),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionUseIECUnits(true),
			progressbar.OptionFullWidth(),
			progressbar.OptionClearOnFinish(),
		)
	}
	p.bar.Set64(done)
}

// finish ends the bar shown, if any.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finishLocked()
}

func (p *progress) finishLocked() {
	if p.bar != nil {
		p.bar.Finish()
		p.bar = nil
	}
}
