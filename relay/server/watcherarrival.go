package server

// A node that has just restarted dials its mesh peers at once, while their
// watchers of it sit in reconnect backoff. Its watcher arriving here is
// the news that it is up: the mesh waits on WatcherArrived to cut its
// backoff short instead of leaving the region split for seconds.

// WatcherArrived returns a channel that is closed when the next mesh
// watcher (another node's mesh client, not our own looped back)
// subscribes to this server's connection changes.
func (s *Server) WatcherArrived() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watcherArrived == nil {
		s.watcherArrived = make(chan struct{})
	}
	return s.watcherArrived
}

// noteWatcherArrivedLocked wakes everyone waiting on WatcherArrived.
func (s *Server) noteWatcherArrivedLocked() {
	if s.watcherArrived != nil {
		close(s.watcherArrived)
		s.watcherArrived = nil
	}
}
