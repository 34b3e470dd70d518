package cordumkeys

import "testing"

// Formatting a key with the package against the concatenation a service writes by hand:
// `go test -bench . -benchmem ./cordumkeys` (figures in docs/benchmarks.md).

var sink string

func BenchmarkHandWrittenConcatenation(b *testing.B) {
	id := jobID
	for i := 0; i < b.N; i++ {
		sink = "job:state:" + id
	}
}

func BenchmarkFormat(b *testing.B) {
	id := JobIDOf(jobID)
	for i := 0; i < b.N; i++ {
		sink, _ = JobState.Format(id)
	}
}

func BenchmarkHandWrittenConcatenationTwoValues(b *testing.B) {
	tenant, username := "acme", "alice"
	for i := 0; i < b.N; i++ {
		sink = "user:" + tenant + ":" + username
	}
}

func BenchmarkFormatTwoValues(b *testing.B) {
	tenant, username := "acme", "alice"
	for i := 0; i < b.N; i++ {
		sink, _ = User.Format(tenant, username)
	}
}
