package redisstore_test

import (
	"log"
	"log/slog"
	"os"

	"github.com/labkit/statsigmw/redisstore"
	"github.com/redis/go-redis/v9"
	statsig "github.com/statsig-io/go-sdk"
)

// Wire a Statsig client to Redis for config and sticky assignments, and
// evaluate an experiment with stickiness. (It needs a Redis and a Statsig
// server key, so it is compiled but not run.)
func ExampleNew() {
	rdb := redis.NewClient(&redis.Options{
		Addr: "localhost:6379",
		// Lets go-redis itself stop at the Store's per-call deadlines.
		ContextTimeoutEnabled: true,
	})
	defer rdb.Close() // after the statsig client's Shutdown

	store, err := redisstore.New(rdb, redisstore.Options{
		Prefix: "shop:production:", // one prefix per environment
		Logger: slog.New(slog.NewJSONHandler(os.Stderr, nil)),
	})
	if err != nil {
		log.Fatal(err)
	}
	client := statsig.NewClientWithOptions(os.Getenv("STATSIG_SERVER_SECRET"), &statsig.Options{
		DataAdapter:           store.DataAdapter(),
		UserPersistentStorage: store.UserPersistentStorage(),
	})
	defer client.Shutdown()

	user := statsig.User{UserID: "visitor-42"}
	// Load once per request and unit type, then pass to every experiment
	// read of that unit: a read without persisted values deletes them.
	values := client.GetUserPersistedValues(user, "userID")
	exp := client.GetExperimentWithOptions(user, "checkout_button", &statsig.GetExperimentOptions{
		PersistedValues: values,
	})
	log.Println(exp.GroupName, exp.GetString("color", "blue"))
	log.Printf("%+v", store.Stats())
}
