package proxy

// attemptsFor is how many attempts an endpoint gets within a request's attempt budget: what
// its retry policy allows (policy), cut so that each of the waiting endpoints the request may
// still fall back to keeps one attempt of the left in the budget. An endpoint that is reached
// gets at least one attempt while any is left; none when the budget is used up.
func attemptsFor(policy, left, waiting int) int {
	if left <= 0 {
		return 0
	}
	return max(min(policy, left-waiting), 1)
}
