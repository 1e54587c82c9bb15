package cluster

import "time"

// maglev is the MaglevHashing lookup table (Eisenbud et al., "Maglev: A Fast and Reliable
// Software Network Load Balancer", NSDI 2016): every member fills table slots in the order of
// its own permutation of the table, taking turns, so each owns an almost equal share and a
// member leaving moves little more than its own share. A key belongs to slot hash mod size.
type maglev struct {
	table []int32 // member index per slot
}

func newMaglev(members []*Member, size int) *maglev {
	t := &maglev{table: make([]int32, size)}
	n := len(members)
	if n == 0 {
		return t
	}
	offset, skip, next := make([]uint64, n), make([]uint64, n), make([]uint64, n)
	for i, m := range members {
		offset[i] = pointHash(m.ID(), 0) % uint64(size)
		skip[i] = pointHash(m.ID(), 1)%uint64(size-1) + 1
	}
	for i := range t.table {
		t.table[i] = -1
	}
	for filled := 0; ; {
		for i := range members {
			slot := (offset[i] + next[i]*skip[i]) % uint64(size)
			for t.table[slot] >= 0 {
				next[i]++
				slot = (offset[i] + next[i]*skip[i]) % uint64(size)
			}
			t.table[slot] = int32(i)
			next[i]++
			if filled++; filled == size {
				return t
			}
		}
	}
}

func (t *maglev) pick(c *Cluster, h uint64, now time.Time) *Member {
	size := uint64(len(t.table))
	if size == 0 || len(c.Members) == 0 {
		return nil
	}
	start := h % size
	// Slots are spread over the members pseudo-randomly, so the next slots share a cooling
	// member's keys out evenly. A full turn only happens when every member cools down.
	for k := uint64(0); k < size; k++ {
		if m := c.Members[t.table[(start+k)%size]]; !m.Health.CoolingDown(now) {
			return m
		}
	}
	return c.Members[t.table[start]]
}
