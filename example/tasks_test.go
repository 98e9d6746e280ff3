package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestAPIStatusCodes checks the status of every route of the JSON API (and
// the plain routes) for good and bad requests. Each case runs against a new
// store holding the original two tasks.
func TestAPIStatusCodes(t *testing.T) {
	const js = "application/json"
	tests := []struct {
		name, method, path, ctype, body string
		want                            int
		wantBody                        string // a substring of the answer
	}{
		{"get 1", "GET", "/tasks/1", "", "", 200, `"title": "Buy groceries"`},
		{"get 2", "GET", "/tasks/2", "", "", 200, `"description": "Need to find a good Python tutorial on the web"`},
		{"get missing", "GET", "/tasks/99", "", "", 404, `"error": "Task not found"`},
		{"get zero", "GET", "/tasks/0", "", "", 404, `"error": "Task not found"`},
		{"get negative", "GET", "/tasks/-1", "", "", 404, `"error": "Task not found"`},
		{"get not a number", "GET", "/tasks/abc", "", "", 404, `"error": "Task not found"`},
		{"get huge id", "GET", "/tasks/99999999999999999999999", "", "", 404, `"error": "Task not found"`},

		{"create", "POST", "/tasks", js, `{"title": "Read"}`, 201, `"id": 3`},
		{"create full", "POST", "/tasks", js, `{"title": "Read", "description": "a book", "done": true}`, 201, `"done": true`},
		{"create json charset", "POST", "/tasks", "application/json; charset=utf-8", `{"title": "Read"}`, 201, `"task"`},
		{"create unknown field", "POST", "/tasks", js, `{"title": "Read", "priority": 1}`, 201, `"title": "Read"`},
		{"create without title", "POST", "/tasks", js, `{"description": "x"}`, 400, `"error"`},
		{"create empty title", "POST", "/tasks", js, `{"title": ""}`, 400, `"error"`},
		{"create null title", "POST", "/tasks", js, `{"title": null}`, 400, `"error"`},
		{"create title not a string", "POST", "/tasks", js, `{"title": 5}`, 400, `field \"title\" must be a string`},
		{"create done not a bool", "POST", "/tasks", js, `{"title": "x", "done": "yes"}`, 400, `field \"done\" must be a bool`},
		{"create malformed", "POST", "/tasks", js, `{"title": `, 400, `"error"`},
		{"create not json", "POST", "/tasks", js, `title=x`, 400, `"error"`},
		{"create empty body", "POST", "/tasks", js, ``, 400, `"error"`},
		{"create array", "POST", "/tasks", js, `[{"title": "x"}]`, 400, `"error"`},
		{"create null", "POST", "/tasks", js, `null`, 400, `"error"`},
		{"create two objects", "POST", "/tasks", js, `{"title": "a"} {"title": "b"}`, 400, `"error"`},
		{"create trailing garbage", "POST", "/tasks", js, `{"title": "a"} x`, 400, `"error"`},
		{"create form", "POST", "/tasks", "application/x-www-form-urlencoded", `title=x`, 400, `Content-Type`},
		{"create text/plain", "POST", "/tasks", "text/plain", `{"title": "x"}`, 400, `Content-Type`},
		{"create no content type", "POST", "/tasks", "", `{"title": "x"}`, 400, `Content-Type`},

		{"update done", "PUT", "/tasks/1", js, `{"done": true}`, 200, `"done": true`},
		{"update title", "PUT", "/tasks/2", js, `{"title": "Learn Go"}`, 200, `"title": "Learn Go"`},
		{"update nothing", "PUT", "/tasks/1", js, `{}`, 200, `"title": "Buy groceries"`},
		{"update missing", "PUT", "/tasks/99", js, `{"done": true}`, 404, `"error": "Task not found"`},
		{"update not a number", "PUT", "/tasks/x", js, `{"done": true}`, 404, `"error": "Task not found"`},
		{"update missing and malformed", "PUT", "/tasks/99", js, `{`, 404, `"error": "Task not found"`},
		{"update malformed", "PUT", "/tasks/1", js, `{"done": tru`, 400, `"error"`},
		{"update done not a bool", "PUT", "/tasks/1", js, `{"done": "yes"}`, 400, `field \"done\" must be a bool`},
		{"update title not a string", "PUT", "/tasks/1", js, `{"title": ["x"]}`, 400, `field \"title\" must be a string`},
		{"update empty title", "PUT", "/tasks/1", js, `{"title": ""}`, 400, `"error"`},
		{"update empty body", "PUT", "/tasks/1", js, ``, 400, `"error"`},
		{"update not an object", "PUT", "/tasks/1", js, `"done"`, 400, `"error"`},
		{"update wrong content type", "PUT", "/tasks/1", "text/plain", `{"done": true}`, 400, `Content-Type`},

		{"delete", "DELETE", "/tasks/1", "", "", 200, `"result": true`},
		{"delete missing", "DELETE", "/tasks/99", "", "", 404, `"error": "Task not found"`},
		{"delete not a number", "DELETE", "/tasks/x", "", "", 404, `"error": "Task not found"`},

		{"patch not allowed", "PATCH", "/tasks/1", js, `{}`, 405, ""},
		{"post to a task", "POST", "/tasks/1", js, `{}`, 405, ""},
		{"delete the list", "DELETE", "/tasks", "", "", 405, ""},
		{"post results", "POST", "/results", "", "", 405, ""},
		{"home", "GET", "/", "", "", 200, "Hello"},
		{"unknown path", "GET", "/nope", "", "", 404, ""},
		{"results json", "GET", "/results.json", "", "", 200, `"experiment": "button_color_v3"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url, _ := startAPI(t)
			r := do(t, &http.Client{}, tt.method, url+tt.path, tt.ctype, tt.body)
			if r.Status != tt.want {
				t.Fatalf("%s %s %q: status %d, want %d; body %s", tt.method, tt.path, tt.body, r.Status, tt.want, r.Body)
			}
			if !strings.Contains(r.Body, tt.wantBody) {
				t.Errorf("%s %s: body %s, want it to contain %s", tt.method, tt.path, r.Body, tt.wantBody)
			}
			if strings.HasPrefix(tt.path, "/tasks/") || tt.method == "POST" && tt.want != 405 {
				if ct := r.Header.Get("Content-Type"); r.Status != 405 && ct != "application/json" {
					t.Errorf("Content-Type %q, want application/json", ct)
				}
			}
		})
	}
}

// TestAPILifecycle walks one task through create, read, update and delete,
// and checks that ids are not reused.
func TestAPILifecycle(t *testing.T) {
	url, store := startAPI(t)
	c := &http.Client{}
	type taskBody struct {
		Task Task `json:"task"`
	}
	decode := func(r response) Task {
		t.Helper()
		var b taskBody
		if err := json.Unmarshal([]byte(r.Body), &b); err != nil {
			t.Fatalf("bad JSON %q: %v", r.Body, err)
		}
		return b.Task
	}

	r := do(t, c, "POST", url+"/tasks", "application/json", `{"title": "Write Go", "description": "the port"}`)
	if r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	created := decode(r)
	if want := (Task{ID: 3, Title: "Write Go", Description: "the port"}); created != want {
		t.Fatalf("created %+v, want %+v", created, want)
	}
	if loc := r.Header.Get("Location"); loc != "/tasks/3" {
		t.Errorf("Location %q, want /tasks/3", loc)
	}
	if got := decode(do(t, c, "GET", url+"/tasks/3", "", "")); got != created {
		t.Errorf("read back %+v, want %+v", got, created)
	}
	updated := decode(do(t, c, "PUT", url+"/tasks/3", "application/json", `{"done": true, "description": "done"}`))
	if want := (Task{ID: 3, Title: "Write Go", Description: "done", Done: true}); updated != want {
		t.Errorf("updated %+v, want %+v", updated, want)
	}
	if r := do(t, c, "DELETE", url+"/tasks/3", "", ""); r.Status != 200 || !strings.Contains(r.Body, `"result": true`) {
		t.Errorf("delete: %d %s", r.Status, r.Body)
	}
	for _, m := range []string{"GET", "DELETE"} {
		if r := do(t, c, m, url+"/tasks/3", "", ""); r.Status != 404 {
			t.Errorf("%s after delete: %d, want 404", m, r.Status)
		}
	}
	if r := do(t, c, "PUT", url+"/tasks/3", "application/json", `{"done": false}`); r.Status != 404 {
		t.Errorf("PUT after delete: %d, want 404", r.Status)
	}
	if next := decode(do(t, c, "POST", url+"/tasks", "application/json", `{"title": "Next"}`)); next.ID != 4 {
		t.Errorf("the next task got id %d, want 4 (ids are not reused)", next.ID)
	}
	if n := len(store.list()); n != 3 {
		t.Errorf("the store holds %d tasks, want 3", n)
	}
}

// TestBodyLimit checks that bodies over the limit are refused with 413 (or
// 400), never 500, and that the store is unchanged.
func TestBodyLimit(t *testing.T) {
	big := strings.Repeat("x", 2*maxBodyBytes)
	tests := []struct {
		name, method, path, body string
	}{
		{"huge title", "POST", "/tasks", `{"title": "` + big + `"}`},
		{"huge garbage", "POST", "/tasks", big},
		{"object then huge tail", "POST", "/tasks", `{"title": "x"}` + strings.Repeat(" ", 2*maxBodyBytes)},
		{"huge update", "PUT", "/tasks/1", `{"description": "` + big + `"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, store := startAPI(t)
			r := do(t, &http.Client{}, tt.method, url+tt.path, "application/json", tt.body)
			if r.Status != http.StatusRequestEntityTooLarge && r.Status != http.StatusBadRequest {
				t.Fatalf("status %d, want 413 or 400; body %.200s", r.Status, r.Body)
			}
			if r.Status == http.StatusRequestEntityTooLarge && !strings.Contains(r.Body, fmt.Sprint(maxBodyBytes)) {
				t.Errorf("the 413 body %q does not give the limit", r.Body)
			}
			if got := store.list(); len(got) != 2 || got[0].Description != "Milk, Cheese, Pizza, Fruit, Tylenol" {
				t.Errorf("the store changed: %+v", got)
			}
		})
	}
	// Just under the limit is fine.
	url, _ := startAPI(t)
	body := `{"title": "` + strings.Repeat("y", maxBodyBytes-100) + `"}`
	if r := do(t, &http.Client{}, "POST", url+"/tasks", "application/json", body); r.Status != 201 {
		t.Errorf("a body of %d bytes: status %d, want 201", len(body), r.Status)
	}
}

// TestConcurrentAPI hammers the API and the page from many goroutines; run
// with -race. Every task a goroutine creates it reads, updates and deletes,
// so the store ends with the original two.
func TestConcurrentAPI(t *testing.T) {
	app := startApp(t, false)
	const goroutines, rounds = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*rounds)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			c := newBrowser(t)
			check := func(what string, r response, want int) bool {
				if r.Status != want {
					errs <- fmt.Errorf("goroutine %d: %s: status %d, want %d: %s", g, what, r.Status, want, r.Body)
					return false
				}
				return true
			}
			for i := 0; i < rounds; i++ {
				r := do(t, c, "POST", app.URL+"/tasks", "application/json", fmt.Sprintf(`{"title": "g%d-%d"}`, g, i))
				if !check("create", r, 201) {
					return
				}
				var b struct{ Task Task }
				if err := json.Unmarshal([]byte(r.Body), &b); err != nil {
					errs <- err
					return
				}
				path := fmt.Sprintf("%s/tasks/%d", app.URL, b.Task.ID)
				check("get", do(t, c, "GET", path, "", ""), 200)
				check("update", do(t, c, "PUT", path, "application/json", `{"done": true}`), 200)
				if i%5 == 0 {
					check("page", do(t, c, "GET", app.URL+"/tasks", "", ""), 200)
					check("whoami", do(t, c, "GET", app.URL+"/whoami", "", ""), 200)
				}
				check("delete", do(t, c, "DELETE", path, "", ""), 200)
				check("get deleted", do(t, c, "GET", path, "", ""), 404)
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := app.Store.list(); len(got) != 2 || got[0].ID != 1 || got[1].ID != 2 {
		t.Errorf("the store ends with %+v, want the original two tasks", got)
	}
	if app.Store.nextID != 3+goroutines*rounds {
		t.Errorf("next id %d, want %d", app.Store.nextID, 3+goroutines*rounds)
	}
}
