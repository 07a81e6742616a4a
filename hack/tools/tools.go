//go:build tools

// Package tools pins build tools (see the Makefile).
package tools

import (
	_ "sigs.k8s.io/controller-tools/cmd/controller-gen"
)
