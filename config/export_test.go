package config

// Current is the set in force. The relay gets each set through OnChange;
// tests read it here.
func (w *Watcher) Current() *Result {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.current
}
