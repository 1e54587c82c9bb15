package main

import (
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"
)

// printer writes the demo's narration. Child processes print from their own goroutines, so
// every write takes the lock.
type printer struct {
	mu    sync.Mutex
	w     io.Writer
	began time.Time
	steps int
	step  int
}

// say prints a line as it is.
func (p *printer) say(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format+"\n", args...)
}

// title starts the next step.
func (p *printer) title(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.step++
	fmt.Fprintf(p.w, "\n[%d/%d] %s  (t+%.1fs)\n", p.step, p.steps, fmt.Sprintf(format, args...), time.Since(p.began).Seconds())
}

// info prints an indented line of a step.
func (p *printer) info(format string, args ...any) {
	p.say("      "+format, args...)
}

// command prints a command line the demo runs, wrapped like a shell would accept it.
func (p *printer) command(args []string) {
	var b strings.Builder
	b.WriteString("      $")
	width := 7
	for _, a := range args {
		a = shellQuote(a)
		if width+1+len(a) > 100 && width > 8 {
			b.WriteString(" \\\n          ")
			width = 10
		}
		b.WriteString(" " + a)
		width += 1 + len(a)
	}
	p.say("%s", b.String())
}

// from prints a line another process printed, tagged with its name.
func (p *printer) from(name, line string) {
	p.say("      %-8s| %s", name, line)
}

func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " '\"{}$*?&|;<>()\\`!#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Gateway log lines worth showing live: what discovery did, and anything that went wrong.
var (
	gatewayInteresting = regexp.MustCompile(`msg="?(endpoint added|endpoint removed|endpoint updated|instance rejected|instance no longer rejected|gateway started|gateway stopped|registry connected)|level=(ERROR|WARN)`)
	gatewayNoise       = regexp.MustCompile(`^time=\S+ `)
)

// gatewayLine reduces a gateway log line for the narration; "" means do not show it.
func gatewayLine(line string) string {
	if !gatewayInteresting.MatchString(line) {
		return ""
	}
	return gatewayNoise.ReplaceAllString(line, "")
}
