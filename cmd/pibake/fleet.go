package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pibake/pibake/recipes"
	"github.com/pibake/pibake/reconcile"
)

const fleetHelp = `

Fleets:
  --inventory FILE names the hosts instead of --target: a Starlark file of
  host(name, address = None, groups = [], data = {}) and
  group(name, data = {}, hosts = []) calls. Each host gets the recipe
  compiled with its name as host.name and its data (its groups' data,
  then its own) as host.data, and is reached at its address, a target as
  for --target (relative paths from the current directory). Hosts run
  --parallel at a time; one failing does not stop the others. Text output
  is each host's report whole, headed "== HOST (ADDRESS)", then a table
  of the hosts; --json adds "host" to every object, then one
  {"type":"host",...} per host and a {"type":"fleet",...} last.
  Exit code: the worst of the hosts'.`

// Host statuses in the fleet summary.
const (
	hostOK          = "ok"          // in state
	hostChanged     = "changed"     // apply: brought into state
	hostPending     = "pending"     // plan: changes pending
	hostFailed      = "failed"      // the recipe, a secret or a step failed
	hostUnreachable = "unreachable" // the target could not be opened
)

// fleetFlags choose the hosts of an inventory.
type fleetFlags struct {
	inventory string
	limit     []string
	parallel  int
}

func (f *fleetFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.inventory, "inventory", "i", "", "Starlark `FILE` of hosts and groups to plan or apply instead of one --target")
	cmd.Flags().StringArrayVarP(&f.limit, "limit", "l", nil, "only the hosts and groups `NAME[,NAME...]` of the inventory (repeatable)")
	cmd.Flags().IntVar(&f.parallel, "parallel", 10, "work on at most `N` hosts of an inventory at once")
}

// check refuses the flags that make no sense together.
func (f *fleetFlags) check(cmd *cobra.Command, target string, recipe recipeFlags) error {
	flags := cmd.Flags()
	switch {
	case f.inventory != "" && target != "":
		return errors.New("--target and --inventory cannot be used together")
	case f.inventory == "" && target == "":
		return errors.New("no target: want --target TARGET (dir:PATH, image:FILE or local) or --inventory FILE")
	case f.inventory == "" && flags.Changed("limit"):
		return errors.New("--limit needs --inventory")
	case f.inventory == "" && flags.Changed("parallel"):
		return errors.New("--parallel needs --inventory")
	case f.inventory != "" && (recipe.hostName != "" || recipe.hostData != ""):
		return errors.New("--host-name and --host-data are for one --target; with --inventory each host's name and data come from the inventory")
	case f.parallel < 1:
		return fmt.Errorf("--parallel %d: want at least 1", f.parallel)
	}
	return nil
}

// fleet is one plan or apply over the hosts of an inventory.
type fleet struct {
	recipe    string
	apply     bool
	asJSON    bool
	showOK    bool
	keepGoing bool
	color     bool
	vault     recipes.Secrets
	target    targetOptions
	out       *syncWriter // stdout, whole reports and JSON lines at a time
	stderr    *syncWriter // stderr, whole lines at a time
}

// hostOutcome is how one host's run ended.
type hostOutcome struct {
	host    *recipes.InventoryHost
	status  string
	ran     bool // reconcile ran: summary counts
	summary reconcile.Summary
	err     error
}

// runFleet plans or applies f.recipe on the hosts flags select.
func runFleet(ctx context.Context, io *streams, flags fleetFlags, f *fleet) error {
	inv, err := recipes.LoadInventory(flags.inventory)
	if err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	hosts, err := inv.Select(flags.limit)
	if err != nil {
		return err
	}
	if len(hosts) == 0 {
		return fmt.Errorf("%s: no hosts selected", inv.Source)
	}
	f.out = &syncWriter{w: io.stdout}
	f.stderr = &syncWriter{w: io.stderr}
	outcomes := make([]*hostOutcome, len(hosts))
	limit := make(chan struct{}, flags.parallel)
	var wg sync.WaitGroup
	for i, h := range hosts {
		limit <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-limit }()
			outcomes[i] = f.host(ctx, h)
		}()
	}
	wg.Wait()

	if f.asJSON {
		f.jsonFleet(outcomes)
	} else {
		writeFleetTable(io.stdout, outcomes)
	}
	fmt.Fprintln(io.stderr, fleetLine(f.apply, outcomes))
	if code := fleetExitCode(f.apply, outcomes); code != 0 {
		return exitCode(code)
	}
	return nil
}

// host runs the recipe on one host and writes its report whole.
func (f *fleet) host(ctx context.Context, h *recipes.InventoryHost) *hostOutcome {
	var text bytes.Buffer
	var rep reconcile.Reporter
	if f.asJSON {
		rep = reconcile.NewJSONReporterWith(f.out, reconcile.JSONOptions{Host: h.Name})
	} else {
		rep = reconcile.NewTextReporter(&text, reconcile.TextOptions{Color: f.color, HideOK: !f.showOK})
	}
	failure := &firstFailure{Reporter: rep}
	// What connecting prints (a ProxyCommand's stderr, ssh warnings)
	// comes from many hosts at once: each line says whose it is.
	sshStderr := &linePrefixer{prefix: h.Name + ": ", w: f.stderr}
	o := f.reconcile(ctx, h, failure, sshStderr)
	sshStderr.flush()
	if o.err == nil && failure.err != nil {
		o.err = failure.err
	}
	if f.asJSON {
		f.jsonHost(o)
		return o
	}
	var block bytes.Buffer
	fmt.Fprintf(&block, "== %s (%s)\n", h.Name, h.Address)
	block.Write(text.Bytes())
	if !o.ran && o.err != nil {
		fmt.Fprintf(&block, "error: %s\n", strings.ReplaceAll(o.err.Error(), "\n", "\n  "))
	}
	block.WriteString("\n")
	f.out.Write(block.Bytes())
	return o
}

// reconcile compiles the recipe for h, opens h's target and runs the
// steps, reporting them to rep.
func (f *fleet) reconcile(ctx context.Context, h *recipes.InventoryHost, rep reconcile.Reporter, sshStderr io.Writer) *hostOutcome {
	o := &hostOutcome{host: h, status: hostFailed}
	if err := ctx.Err(); err != nil {
		o.err = fmt.Errorf("not run: %w", err)
		return o
	}
	recipe, err := recipes.Load(f.recipe, recipes.Options{HostName: h.Name, HostData: h.Data})
	if err != nil {
		o.err = err
		return o
	}
	steps, redact, err := recipe.Resolve(f.vault)
	if err != nil {
		o.err = err
		return o
	}
	target := f.target
	target.sshStderr = sshStderr
	o.summary, err = runOn(ctx, h.Address, steps, reconcile.Options{
		Apply:     f.apply,
		Now:       time.Now(),
		Redact:    redact,
		KeepGoing: f.keepGoing,
	}, rep, target)
	var unreachable *unreachableError
	if errors.As(err, &unreachable) {
		o.status, o.err = hostUnreachable, err
		return o
	}
	o.ran = err == nil
	o.err = err
	o.status = hostStatus(f.apply, o.summary, err)
	return o
}

func hostStatus(apply bool, s reconcile.Summary, err error) string {
	switch reconcile.ExitCode(apply, s, err) {
	case 1:
		return hostFailed
	case 2:
		return hostPending
	}
	if apply && s.Changed > 0 {
		return hostChanged
	}
	return hostOK
}

// firstFailure passes results on, keeping the first failed step's error.
type firstFailure struct {
	reconcile.Reporter
	err error
}

func (r *firstFailure) Step(res *reconcile.Result) {
	if res.Status == reconcile.StatusFailed && r.err == nil && res.Err != nil {
		r.err = fmt.Errorf("%s: %s: %w", res.Step.Pos, res.Step.Op.Kind(), res.Err)
	}
	r.Reporter.Step(res)
}

// writeFleetTable is the text summary: a row per host, in inventory order.
func writeFleetTable(w io.Writer, outcomes []*hostOutcome) {
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tSTATUS\tOK\tCHANGED\tDEFERRED\tFAILED\tREBOOT\tERROR")
	for _, o := range outcomes {
		counts := []string{"-", "-", "-", "-", "-"}
		if o.ran {
			s := o.summary
			counts = []string{strconv.Itoa(s.OK), strconv.Itoa(s.Changed), strconv.Itoa(s.Deferred), strconv.Itoa(s.Failed), "-"}
			if s.Reboot {
				counts[4] = "yes"
			}
		}
		msg := ""
		if o.err != nil && (o.status == hostFailed || o.status == hostUnreachable) {
			msg, _, _ = strings.Cut(o.err.Error(), "\n")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", o.host.Name, o.status, strings.Join(counts, "\t"), msg)
	}
	tw.Flush()
	// tabwriter pads the empty ERROR cells; trailing blanks are noise.
	for _, line := range strings.Split(strings.TrimSuffix(table.String(), "\n"), "\n") {
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
}

// fleetCounts counts hosts by status.
func fleetCounts(outcomes []*hostOutcome) map[string]int {
	n := map[string]int{}
	for _, o := range outcomes {
		n[o.status]++
	}
	return n
}

// fleetLine is the one line for humans: "3 hosts: 2 in state, 1 failed".
func fleetLine(apply bool, outcomes []*hostOutcome) string {
	n := fleetCounts(outcomes)
	noun := "hosts"
	if len(outcomes) == 1 {
		noun = "host"
	}
	parts := []string{fmt.Sprintf("%d in state", n[hostOK]+n[hostChanged])}
	if apply && n[hostChanged] > 0 {
		parts[0] += fmt.Sprintf(" (%d changed)", n[hostChanged])
	}
	for _, p := range []struct {
		status, what string
	}{{hostPending, "with changes pending"}, {hostFailed, "failed"}, {hostUnreachable, "unreachable"}} {
		if n[p.status] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[p.status], p.what))
		}
	}
	return fmt.Sprintf("%d %s: %s", len(outcomes), noun, strings.Join(parts, ", "))
}

// fleetExitCode is the worst host's: 1 if any failed or was unreachable,
// else (plan) 2 if any has changes pending, else 0.
func fleetExitCode(apply bool, outcomes []*hostOutcome) int {
	n := fleetCounts(outcomes)
	switch {
	case n[hostFailed]+n[hostUnreachable] > 0:
		return 1
	case !apply && n[hostPending] > 0:
		return 2
	}
	return 0
}

type jsonHost struct {
	Type     string `json:"type"`
	Host     string `json:"host"`
	Address  string `json:"address"`
	Status   string `json:"status"`
	OK       int    `json:"ok"`
	Changed  int    `json:"changed"`
	Deferred int    `json:"deferred"`
	Failed   int    `json:"failed"`
	Skipped  int    `json:"skipped"`
	Pending  int    `json:"pending"`
	Reboot   bool   `json:"reboot"`
	Error    string `json:"error,omitempty"`
}

type jsonFleet struct {
	Type        string `json:"type"`
	Hosts       int    `json:"hosts"`
	OK          int    `json:"ok"`
	Changed     int    `json:"changed"`
	Pending     int    `json:"pending"`
	Failed      int    `json:"failed"`
	Unreachable int    `json:"unreachable"`
}

// jsonHost writes {"type":"host",...}: how the host ended.
func (f *fleet) jsonHost(o *hostOutcome) {
	s := o.summary
	out := jsonHost{
		Type: "host", Host: o.host.Name, Address: o.host.Address, Status: o.status,
		OK: s.OK, Changed: s.Changed, Deferred: s.Deferred, Failed: s.Failed,
		Skipped: s.Skipped, Pending: s.Pending, Reboot: s.Reboot,
	}
	if o.err != nil {
		out.Error = o.err.Error()
	}
	writeJSONLine(f.out, out)
}

// jsonFleet writes {"type":"fleet",...}: the hosts counted by status.
func (f *fleet) jsonFleet(outcomes []*hostOutcome) {
	n := fleetCounts(outcomes)
	writeJSONLine(f.out, jsonFleet{
		Type: "fleet", Hosts: len(outcomes), OK: n[hostOK], Changed: n[hostChanged],
		Pending: n[hostPending], Failed: n[hostFailed], Unreachable: n[hostUnreachable],
	})
}

func writeJSONLine(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// syncWriter serialises writes, so that each whole report or JSON line
// (one Write) from a host's goroutine is never cut by another's.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// linePrefixer writes whole lines to w, each after prefix (a carriage
// return before the newline dropped); flush writes a last partial line.
type linePrefixer struct {
	prefix string
	w      io.Writer
	mu     sync.Mutex
	buf    []byte
}

func (p *linePrefixer) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		p.writeLine(p.buf[:i])
		p.buf = p.buf[i+1:]
	}
}

func (p *linePrefixer) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) > 0 {
		p.writeLine(p.buf)
		p.buf = nil
	}
}

func (p *linePrefixer) writeLine(line []byte) {
	out := append([]byte(p.prefix), bytes.TrimSuffix(line, []byte("\r"))...)
	p.w.Write(append(out, '\n'))
}
