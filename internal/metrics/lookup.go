package metrics

// Has reports whether a family called name is registered. Packages that
// add optional metrics to a shared registry use it to leave a family that
// someone else registered, possibly with another type, alone: registering
// one name with two shapes panics.
func (r *Registry) Has(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.families[name]
	return ok
}
