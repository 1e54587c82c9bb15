//go:build !race

package llmregistry_test

const raceDetector = false
