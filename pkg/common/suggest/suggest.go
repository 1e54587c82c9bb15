// Package suggest finds the known word a typo was meant to be, for "did you mean" hints.
package suggest

import "strings"

// Closest returns the candidate nearest to word by edit distance, ignoring case, when it is
// near enough to be a likely typo: at most 2 edits, and fewer than half of word's length. ok is
// false when no candidate is that near or word is itself a candidate.
func Closest(word string, candidates []string) (best string, ok bool) {
	w := strings.ToLower(word)
	bestDist := -1
	for _, c := range candidates {
		d := distance(w, strings.ToLower(c))
		if d == 0 && c == word {
			return "", false
		}
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	if bestDist < 0 || bestDist > 2 || 2*bestDist >= len([]rune(w)) {
		return "", false
	}
	return best, true
}

// distance is the Levenshtein distance between a and b, counting an adjacent transposition
// ("strat" for "start") as one edit.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
