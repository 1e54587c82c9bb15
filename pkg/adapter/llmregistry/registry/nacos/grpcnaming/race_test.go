//go:build race

package grpcnaming

const raceDetector = true
