package statsigtest_test

import (
	"math/rand"
	"net/http"

	"github.com/google/uuid"
)

func srvGet(url string) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// seededIDs returns a generator of random v4 UUIDs that is the same on every
// run, so that split figures are reproducible.
func seededIDs(seed int64) func() string {
	r := rand.New(rand.NewSource(seed))
	return func() string { return uuid.Must(uuid.NewRandomFromReader(r)).String() }
}
