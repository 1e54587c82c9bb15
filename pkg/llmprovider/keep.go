package llmprovider

import (
	"context"
	"fmt"
	"time"
)

// KeepRegistered checks every interval that inst is still in the registry and registers it again
// when the registry lost it: a registry restarted without its data forgets ephemeral instances,
// and not every server answers a heartbeat for an unknown instance with "not found" (which makes
// the heartbeat register it again) the way Java Nacos does. report receives one line per change of state (registry
// unreachable, reachable again, instance registered again), never per check. KeepRegistered
// returns when ctx ends.
func (r *Registrar) KeepRegistered(ctx context.Context, inst Instance, interval time.Duration, report func(msg string)) {
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	trouble := "" // kind of the problem last reported; "" when all is well
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		kind, msg, reregistered := "", "", false
		present, err := r.Present(inst)
		switch {
		case err != nil:
			kind = "unreachable"
			msg = fmt.Sprintf("cannot check the registration: %v; heartbeats go on, checking again every %v", err, interval)
		case !present:
			if err := r.Register(inst); err != nil {
				kind = "lost"
				msg = fmt.Sprintf("%s is no longer in the registry and registering it again failed: %v", inst, err)
			} else {
				reregistered = true
				report(fmt.Sprintf("%s was no longer in the registry; registered it again", inst))
			}
		}
		switch {
		case kind != "" && kind != trouble:
			report(msg)
		case kind == "" && trouble != "" && !reregistered:
			report(fmt.Sprintf("%s is registered again", inst))
		}
		trouble = kind
	}
}
