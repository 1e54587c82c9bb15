//go:build !race

package grpcnaming

const raceDetector = false
