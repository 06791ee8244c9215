package client

// SetHubPage sets how many elements the client asks for per page of a long
// answer, and returns a function that restores it.
func SetHubPage(n int) (restore func()) {
	old := hubPage
	hubPage = n
	return func() { hubPage = old }
}
