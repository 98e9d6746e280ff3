package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
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

		{"patch not allowed", "PATCH", "/tasks/1", js, `{}`, 405, `"error": "method PATCH is not allowed here; allowed: GET, HEAD, PUT, DELETE"`},
		{"post to a task", "POST", "/tasks/1", js, `{}`, 405, `"error"`},
		{"options on a missing task", "OPTIONS", "/tasks/99", "", "", 405, `"error"`},
		{"delete the list", "DELETE", "/tasks", "", "", 405, `"error": "method DELETE is not allowed here; allowed: GET, HEAD, POST"`},
		{"put the list", "PUT", "/tasks", js, `{}`, 405, `"error"`},
		{"post whoami", "POST", "/whoami", "", "", 405, `"error"`},
		{"post results json", "POST", "/results.json", "", "", 405, `"error"`},
		{"below a task", "GET", "/tasks/1/x", "", "", 404, `"error": "Task not found"`},
		{"no id", "GET", "/tasks/", "", "", 404, `"error": "Task not found"`},
		{"post results", "POST", "/results", "", "", 405, ""},
		{"home", "GET", "/", "", "", 200, "The lab's tasks app"},
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
			// The API and the JSON routes answer JSON, errors included.
			if strings.HasPrefix(tt.path, "/tasks") && (tt.path != "/tasks" || tt.method != "GET") ||
				tt.path == "/whoami" || tt.path == "/results.json" {
				if ct := r.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q, want application/json", ct)
				}
				var v map[string]any
				if err := json.Unmarshal([]byte(r.Body), &v); err != nil {
					t.Errorf("the body is not a JSON object: %v: %s", err, r.Body)
				}
			}
			if r.Status == 405 && r.Header.Get("Allow") == "" {
				t.Error("a 405 without Allow")
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
	body := `{"title": "y"` + strings.Repeat(" ", maxBodyBytes-20) + `}`
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

// TestTaskBounds checks each bound of the store: the number of tasks, the
// length of the title and of the description (in characters, not bytes),
// and blank titles, for both POST and PUT. A refused request leaves the
// store as it was.
func TestTaskBounds(t *testing.T) {
	const js = "application/json"
	body := func(fields map[string]any) string {
		b, err := json.Marshal(fields)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	tests := []struct {
		name, method, path string
		fields             map[string]any
		want               int
		wantErr            string
	}{
		{"longest title", "POST", "/tasks", map[string]any{"title": strings.Repeat("a", maxTitleLen)}, 201, ""},
		{"longest title in two-byte characters", "POST", "/tasks", map[string]any{"title": strings.Repeat("é", maxTitleLen)}, 201, ""},
		{"title one too long", "POST", "/tasks", map[string]any{"title": strings.Repeat("a", maxTitleLen+1)}, 400, `"title" has 121 characters; at most 120 are allowed`},
		{"title too long in emoji", "POST", "/tasks", map[string]any{"title": strings.Repeat("🙂", maxTitleLen+1)}, 400, "121 characters"},
		{"long title with spaces around fits", "POST", "/tasks", map[string]any{"title": "  " + strings.Repeat("a", maxTitleLen) + "\n"}, 201, ""},
		{"longest description", "POST", "/tasks", map[string]any{"title": "x", "description": strings.Repeat("d", maxDescriptionLen)}, 201, ""},
		{"description one too long", "POST", "/tasks", map[string]any{"title": "x", "description": strings.Repeat("d", maxDescriptionLen+1)}, 400, `"description" has 1001 characters`},
		{"space title", "POST", "/tasks", map[string]any{"title": " "}, 400, "only spaces"},
		{"whitespace title", "POST", "/tasks", map[string]any{"title": " \t\r\n "}, 400, "only spaces"},
		{"ideographic space title", "POST", "/tasks", map[string]any{"title": "\u3000\u00a0"}, 400, "only spaces"},
		{"update title one too long", "PUT", "/tasks/1", map[string]any{"title": strings.Repeat("a", maxTitleLen+1)}, 400, "121 characters"},
		{"update whitespace title", "PUT", "/tasks/1", map[string]any{"title": "\t"}, 400, "only spaces"},
		{"update description too long", "PUT", "/tasks/1", map[string]any{"description": strings.Repeat("d", maxDescriptionLen+1)}, 400, "1001 characters"},
		{"update longest title", "PUT", "/tasks/1", map[string]any{"title": strings.Repeat("a", maxTitleLen)}, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url, store := startAPI(t)
			before := store.list()
			r := do(t, &http.Client{}, tt.method, url+tt.path, js, body(tt.fields))
			if r.Status != tt.want {
				t.Fatalf("status %d, want %d: %.300s", r.Status, tt.want, r.Body)
			}
			if tt.want >= 400 {
				var e struct{ Error string }
				if err := json.Unmarshal([]byte(r.Body), &e); err != nil || !strings.Contains(e.Error, tt.wantErr) {
					t.Errorf("error %q (%v), want it to contain %q", e.Error, err, tt.wantErr)
				}
				if after := store.list(); !reflect.DeepEqual(after, before) {
					t.Errorf("a refused request changed the store: %+v", after)
				}
				return
			}
			var b struct{ Task Task }
			if err := json.Unmarshal([]byte(r.Body), &b); err != nil {
				t.Fatal(err)
			}
			if want := strings.TrimSpace(tt.fields["title"].(string)); b.Task.Title != want {
				t.Errorf("stored title %q, want %q (trimmed)", b.Task.Title, want)
			}
		})
	}

	t.Run("number of tasks", func(t *testing.T) {
		url, store := startAPI(t)
		c := &http.Client{}
		for i := len(store.list()); i < maxTasks; i++ {
			if r := do(t, c, "POST", url+"/tasks", js, fmt.Sprintf(`{"title": "t%d"}`, i)); r.Status != 201 {
				t.Fatalf("task %d of %d: status %d: %s", i+1, maxTasks, r.Status, r.Body)
			}
		}
		r := do(t, c, "POST", url+"/tasks", js, `{"title": "one too many"}`)
		if r.Status != http.StatusConflict || !strings.Contains(r.Body, `"error": "the task list is full (100 tasks); delete one first"`) {
			t.Fatalf("task %d: status %d %s, want 409 with a JSON error", maxTasks+1, r.Status, r.Body)
		}
		if n := len(store.list()); n != maxTasks {
			t.Fatalf("the store holds %d tasks, want %d", n, maxTasks)
		}
		// Updates still work on a full store, and deleting makes room.
		if r := do(t, c, "PUT", url+"/tasks/1", js, `{"done": true}`); r.Status != 200 {
			t.Errorf("update on a full store: %d %s", r.Status, r.Body)
		}
		if r := do(t, c, "DELETE", url+"/tasks/1", "", ""); r.Status != 200 {
			t.Fatalf("delete: %d %s", r.Status, r.Body)
		}
		if r := do(t, c, "POST", url+"/tasks", js, `{"title": "room again"}`); r.Status != 201 {
			t.Errorf("after a delete: status %d %s, want 201", r.Status, r.Body)
		}
		if r := do(t, c, "POST", url+"/tasks", js, `{"title": "full again"}`); r.Status != http.StatusConflict {
			t.Errorf("full again: status %d, want 409", r.Status)
		}
		// The page of a full store lists them all.
		page := get(t, newBrowser(t), url+"/tasks")
		if n := strings.Count(page, "<tr><td>"); n != maxTasks/2 {
			t.Errorf("/tasks shows %d rows, want %d (one half of %d)", n, maxTasks/2, maxTasks)
		}
	})
}

// TestTaskIDCanonical checks that a task is named by one spelling of its
// id only: signs, leading zeros, spaces and other digits name no task.
func TestTaskIDCanonical(t *testing.T) {
	url, store := startAPI(t)
	c := &http.Client{}
	for _, id := range []string{"+1", "01", "001", "1.0", "1e0", "0x1", "%201", "1%20", "%2B1", "١", "１", "-0", "0", "1_0", "99999999999999999999"} {
		for _, m := range []string{"GET", "PUT", "DELETE"} {
			r := do(t, c, m, url+"/tasks/"+id, "application/json", `{"done": true}`)
			if r.Status != http.StatusNotFound || !strings.Contains(r.Body, `"error": "Task not found"`) {
				t.Errorf("%s /tasks/%s: status %d %s, want a JSON 404", m, id, r.Status, r.Body)
			}
		}
	}
	if got := store.list(); got[0].Done || len(got) != 2 {
		t.Errorf("task 1 was changed or deleted through another spelling: %+v", got)
	}
	for _, id := range []string{"1", "%31"} { // %31 is "1", percent-encoded
		if r := do(t, c, "GET", url+"/tasks/"+id, "", ""); r.Status != 200 || !strings.Contains(r.Body, `"id": 1,`) {
			t.Errorf("GET /tasks/%s: %d %s, want task 1", id, r.Status, r.Body)
		}
	}
}

func TestParseTaskID(t *testing.T) {
	tests := []struct {
		in   string
		id   int
		want bool
	}{
		{"1", 1, true},
		{"42", 42, true},
		{"999999999999999999", 999999999999999999, true},
		{"1000000000000000000", 0, false}, // 19 digits
		{"", 0, false},
		{"0", 0, false},
		{"01", 0, false},
		{"+1", 0, false},
		{"-1", 0, false},
		{" 1", 0, false},
		{"1 ", 0, false},
		{"1a", 0, false},
		{"١", 0, false},
	}
	for _, tt := range tests {
		if id, ok := parseTaskID(tt.in); id != tt.id || ok != tt.want {
			t.Errorf("parseTaskID(%q) = %d, %v, want %d, %v", tt.in, id, ok, tt.id, tt.want)
		}
	}
}

// FuzzParseTaskID checks that an accepted id has exactly one spelling: the
// one strconv.Itoa gives back.
func FuzzParseTaskID(f *testing.F) {
	for _, s := range []string{"1", "01", "+1", "-1", "0", "999999999999999999", "1000000000000000000", "1e3", " 7", "١"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := parseTaskID(s)
		if !ok {
			if id != 0 {
				t.Errorf("parseTaskID(%q) = %d, false; want 0 when refused", s, id)
			}
			return
		}
		if id <= 0 || strconv.Itoa(id) != s {
			t.Errorf("parseTaskID(%q) = %d, true; want a positive id spelled %q", s, id, strconv.Itoa(id))
		}
	})
}

// FuzzTaskAPI sends arbitrary bodies, content types and ids to the task
// API. It never panics or answers 5xx, answers JSON, and the store keeps
// its bounds: at most maxTasks tasks, each with a non-blank title of at
// most maxTitleLen characters and a description of at most
// maxDescriptionLen.
func FuzzTaskAPI(f *testing.F) {
	f.Add("POST", "", "application/json", `{"title": "Read", "description": "a book", "done": true}`)
	f.Add("PUT", "1", "application/json", `{"title": "  "}`)
	f.Add("PUT", "2", "application/json; charset=utf-8", `{"done": "yes"}`)
	f.Add("POST", "", "application/json", `{"title": "a"} {"title": "b"}`)
	f.Add("DELETE", "01", "", ``)
	f.Add("GET", "+1", "", ``)
	f.Add("PATCH", "1", "application/json", `{}`)
	f.Add("POST", "", "text/plain", `{"title": "x"}`)
	f.Add("POST", "", "application/json", `{"title": "\u0000\ud800"}`)
	store := newTaskStore()
	h, err := newApp(appConfig{Client: testClient(f), Store: store})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, id, contentType, body string) {
		if !validMethod(method) {
			return
		}
		path := "/tasks"
		if id != "" {
			path += "/" + url.PathEscape(id)
		}
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: status %d: %s", method, path, body, rec.Code, rec.Body)
		}
		// Dot segments (/tasks/..) get the mux's redirect to the clean path;
		// everything else answers JSON.
		if rec.Code/100 != 3 && (method != "GET" && method != "HEAD" || id != "") {
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
			}
		}
		tasks := store.list()
		if len(tasks) > maxTasks {
			t.Fatalf("the store holds %d tasks, over %d", len(tasks), maxTasks)
		}
		for _, task := range tasks {
			if strings.TrimSpace(task.Title) == "" || utf8.RuneCountInString(task.Title) > maxTitleLen ||
				utf8.RuneCountInString(task.Description) > maxDescriptionLen {
				t.Fatalf("a stored task breaks the bounds: %+v", task)
			}
		}
	})
}

// validMethod reports whether m is a token, as net/http requires of a
// method.
func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for _, c := range m {
		if c > '~' || c <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, c) {
			return false
		}
	}
	return true
}
