package reconcile

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// TextOptions shape the text report.
type TextOptions struct {
	// Color uses ANSI colours (the caller decides: a terminal, no NO_COLOR).
	Color bool
	// HideOK leaves out the steps that are in state.
	HideOK bool
}

// NewTextReporter writes one line per step to w, status first:
//
//	changed  files.put /etc/hostname                  robot.star:12:1
//	         update /etc/hostname
//	           --- a/etc/hostname
//	           ...
//
// then the step's changes, diffs, notes and error, indented; and a last
// line "summary: 3 ok, 5 changed, 2 deferred, 0 failed". A step in state
// is one line (with its skipped changes, if any). Write errors are
// ignored: the report is best effort, the exit code is not.
func NewTextReporter(w io.Writer, opts TextOptions) Reporter {
	return &textReporter{w: w, opts: opts}
}

type textReporter struct {
	w    io.Writer
	opts TextOptions
}

const (
	statusWidth = 9
	headWidth   = 44
	indent      = "           " // statusWidth + 2
	ansiReset   = "\x1b[0m"
)

var statusColor = map[Status]string{
	StatusOK:       "\x1b[32m", // green
	StatusChanged:  "\x1b[33m", // yellow
	StatusDeferred: "\x1b[36m", // cyan
	StatusFailed:   "\x1b[1;31m",
	StatusSkipped:  "\x1b[90m", // grey
}

func (r *textReporter) color(code, s string) string {
	if !r.opts.Color || code == "" {
		return s
	}
	return code + s + ansiReset
}

func (r *textReporter) Step(res *Result) {
	if r.opts.HideOK && res.Status == StatusOK {
		return
	}
	var b strings.Builder
	head := res.Step.Op.Kind()
	if res.Summary != "" {
		head += " " + res.Summary
	}
	if res.Step.Pos != "" {
		head = fmt.Sprintf("%-*s %s", headWidth, head, res.Step.Pos)
	}
	status := fmt.Sprintf("%*s", statusWidth, res.Status)
	fmt.Fprintf(&b, "%s  %s\n", r.color(statusColor[res.Status], status), head)
	for _, cr := range res.Changes {
		if res.Status == StatusOK && !cr.Skipped {
			continue
		}
		b.WriteString(indent + cr.Description + "\n")
		if cr.Note != "" {
			b.WriteString(indent + "  " + r.color(statusColor[StatusSkipped], cr.Note) + "\n")
		}
		r.diff(&b, cr.Diff)
	}
	for _, n := range res.Notes {
		b.WriteString(indent + "note: " + n + "\n")
	}
	if res.Err != nil {
		lines := strings.Split(res.Err.Error(), "\n")
		b.WriteString(indent + r.color(statusColor[StatusFailed], "error: "+lines[0]) + "\n")
		for _, l := range lines[1:] {
			b.WriteString(indent + "  " + l + "\n")
		}
	}
	io.WriteString(r.w, b.String())
}

func (r *textReporter) diff(b *strings.Builder, diff string) {
	if diff == "" {
		return
	}
	for _, l := range strings.SplitAfter(strings.TrimSuffix(diff, "\n"), "\n") {
		l = strings.TrimSuffix(l, "\n")
		code := ""
		switch {
		case strings.HasPrefix(l, "+++"), strings.HasPrefix(l, "---"):
			code = "\x1b[1m"
		case strings.HasPrefix(l, "+"):
			code = "\x1b[32m"
		case strings.HasPrefix(l, "-"):
			code = "\x1b[31m"
		case strings.HasPrefix(l, "@@"):
			code = "\x1b[36m"
		}
		b.WriteString(indent + "  " + r.color(code, l) + "\n")
	}
}

func (r *textReporter) Done(s Summary) {
	line := fmt.Sprintf("summary: %d ok, %d changed, %d deferred, %d failed", s.OK, s.Changed, s.Deferred, s.Failed)
	if s.Skipped > 0 {
		line += fmt.Sprintf(", %d skipped", s.Skipped)
	}
	if s.Reboot {
		line += ", " + noteReboot
	}
	io.WriteString(r.w, line+"\n")
}

// NewJSONReporter writes one JSON object per line to w: for each step
//
//	{"type":"step","id":..,"op":..,"pos":..,"summary":..,"status":..,
//	 "changes":[{"kind":..,"path":..,"description":..,"diff":..,
//	             "deferred":..,"skipped":..,"note":..}],"notes":[..],"error":..}
//
// ("path", "diff", "note" and "error" only when set), and last
//
//	{"type":"summary","ok":N,"changed":N,"deferred":N,"failed":N,
//	 "skipped":N,"pending":N,"reboot":B}
func NewJSONReporter(w io.Writer) Reporter {
	return NewJSONReporterWith(w, JSONOptions{})
}

// JSONOptions shape the JSON report.
type JSONOptions struct {
	// Host, when set, is added to every object as "host" (after "type"),
	// so that the reports of a fleet's hosts can share one stream.
	Host string
}

// NewJSONReporterWith is NewJSONReporter with options. Each object is
// one Write to w, so reporters sharing a w that serialises its writes
// never interleave within a line.
func NewJSONReporterWith(w io.Writer, opts JSONOptions) Reporter {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &jsonReporter{enc: enc, host: opts.Host}
}

type jsonReporter struct {
	enc  *json.Encoder
	host string
}

type jsonStep struct {
	Type    string       `json:"type"`
	Host    string       `json:"host,omitempty"`
	ID      string       `json:"id"`
	Op      string       `json:"op"`
	Pos     string       `json:"pos"`
	Summary string       `json:"summary"`
	Status  Status       `json:"status"`
	Changes []jsonChange `json:"changes"`
	Notes   []string     `json:"notes"`
	Error   string       `json:"error,omitempty"`
}

type jsonChange struct {
	Kind        string `json:"kind"`
	Path        string `json:"path,omitempty"`
	Description string `json:"description"`
	Diff        string `json:"diff,omitempty"`
	Deferred    bool   `json:"deferred"`
	Skipped     bool   `json:"skipped"`
	Note        string `json:"note,omitempty"`
}

type jsonSummary struct {
	Type     string `json:"type"`
	Host     string `json:"host,omitempty"`
	OK       int    `json:"ok"`
	Changed  int    `json:"changed"`
	Deferred int    `json:"deferred"`
	Failed   int    `json:"failed"`
	Skipped  int    `json:"skipped"`
	Pending  int    `json:"pending"`
	Reboot   bool   `json:"reboot"`
}

func (r *jsonReporter) Step(res *Result) {
	out := jsonStep{
		Type: "step", Host: r.host, ID: res.Step.ID, Op: res.Step.Op.Kind(), Pos: res.Step.Pos,
		Summary: res.Summary, Status: res.Status,
		Changes: []jsonChange{}, Notes: []string{},
	}
	for _, cr := range res.Changes {
		out.Changes = append(out.Changes, jsonChange{
			Kind:        string(cr.Change.Kind),
			Path:        cr.Path,
			Description: cr.Description,
			Diff:        cr.Diff,
			Deferred:    cr.Deferred,
			Skipped:     cr.Skipped,
			Note:        cr.Note,
		})
	}
	out.Notes = append(out.Notes, res.Notes...)
	if res.Err != nil {
		out.Error = res.Err.Error()
	}
	r.enc.Encode(out)
}

func (r *jsonReporter) Done(s Summary) {
	r.enc.Encode(jsonSummary{
		Type: "summary", Host: r.host, OK: s.OK, Changed: s.Changed, Deferred: s.Deferred, Failed: s.Failed,
		Skipped: s.Skipped, Pending: s.Pending, Reboot: s.Reboot,
	})
}
