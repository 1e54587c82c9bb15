package cluster

import (
	"slices"
	"time"
)

// ring is the RingHashing table: every member owns replicas points on a 64-bit circle, and a
// key belongs to the first point at or after its hash. When a member leaves, only the keys of
// its points move (to the next points), about 1/n of all keys.
type ring struct {
	points []uint64 // sorted
	owners []int32  // owners[i] is the index in Cluster.Members of the member owning points[i]
}

func newRing(members []*Member, replicas int) *ring {
	type point struct {
		hash  uint64
		owner int32
	}
	all := make([]point, 0, len(members)*replicas)
	for i, m := range members {
		for j := 0; j < replicas; j++ {
			all = append(all, point{pointHash(m.ID(), j), int32(i)})
		}
	}
	// Ties (vanishingly rare) are broken by member order, so the ring depends on nothing else.
	slices.SortFunc(all, func(a, b point) int {
		switch {
		case a.hash < b.hash:
			return -1
		case a.hash > b.hash:
			return 1
		}
		return int(a.owner - b.owner)
	})
	r := &ring{points: make([]uint64, len(all)), owners: make([]int32, len(all))}
	for i, p := range all {
		r.points[i], r.owners[i] = p.hash, p.owner
	}
	return r
}

func (r *ring) pick(c *Cluster, h uint64, now time.Time) *Member {
	n := len(r.points)
	if n == 0 {
		return nil
	}
	start, _ := slices.BinarySearch(r.points, h)
	for k := 0; k < n; k++ {
		if m := c.Members[r.owners[(start+k)%n]]; !m.Health.CoolingDown(now) {
			return m
		}
	}
	return c.Members[r.owners[start%n]]
}
