package manager_test

import (
	"io"
	"sync"
)

// syncWriter serialises writes from the manager's goroutines into a buffer.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
