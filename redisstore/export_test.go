package redisstore

// ConfigWriterRunning reports whether the data adapter's writer goroutine
// runs.
func ConfigWriterRunning(s *Store) bool {
	a := s.config
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.running
}
