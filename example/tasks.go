package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Bounds of the task store, so that unauthenticated posts cannot grow the
// process or the /tasks page without limit: at most maxTasks tasks (409 past
// it), a title of at most maxTitleLen characters and a description of at
// most maxDescriptionLen (400 past them), and a body of at most
// maxBodyBytes (413). The worst case is about 0.5 MB of tasks.
const (
	maxTasks          = 100
	maxTitleLen       = 120
	maxDescriptionLen = 1000
	maxBodyBytes      = 16 << 10
)

// Task is one to-do item of the JSON API, in the original app's format.
type Task struct {
	ID          int    `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Done        bool   `json:"done"`
}

// taskStore is an in-memory list of tasks. It is safe for concurrent use.
type taskStore struct {
	mu     sync.Mutex
	tasks  []Task // ordered by ID
	nextID int
}

// newTaskStore returns a store holding the original app's two tasks.
func newTaskStore() *taskStore {
	return &taskStore{
		tasks: []Task{
			{ID: 1, Title: "Buy groceries", Description: "Milk, Cheese, Pizza, Fruit, Tylenol"},
			{ID: 2, Title: "Learn Python", Description: "Need to find a good Python tutorial on the web"},
		},
		nextID: 3,
	}
}

// list returns a copy of every task, in order of id.
func (s *taskStore) list() []Task {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.tasks)
}

func (s *taskStore) indexLocked(id int) int {
	i, found := slices.BinarySearchFunc(s.tasks, id, func(t Task, id int) int { return t.ID - id })
	if !found {
		return -1
	}
	return i
}

// get returns the task with the id.
func (s *taskStore) get(id int) (Task, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := s.indexLocked(id); i >= 0 {
		return s.tasks[i], true
	}
	return Task{}, false
}

// add stores a new task and returns it with its id, or reports false when
// the store already holds maxTasks. Ids are never reused, unlike the
// original app's "last id + 1", which gave a deleted task's id to the next
// new one.
func (s *taskStore) add(t Task) (Task, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.tasks) >= maxTasks {
		return Task{}, false
	}
	t.ID = s.nextID
	s.nextID++
	s.tasks = append(s.tasks, t)
	return t, true
}

// update applies the fields of p that are set to the task with the id and
// returns the result.
func (s *taskStore) update(id int, p taskPatch) (Task, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.indexLocked(id)
	if i < 0 {
		return Task{}, false
	}
	t := &s.tasks[i]
	if p.Title != nil {
		t.Title = *p.Title
	}
	if p.Description != nil {
		t.Description = *p.Description
	}
	if p.Done != nil {
		t.Done = *p.Done
	}
	return *t, true
}

// remove deletes the task with the id and reports whether it existed.
func (s *taskStore) remove(id int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.indexLocked(id)
	if i < 0 {
		return false
	}
	s.tasks = slices.Delete(s.tasks, i, i+1)
	return true
}

// taskPatch is the body of PUT /tasks/{id} and POST /tasks: every field is
// optional, and a field of the wrong JSON type is a 400.
type taskPatch struct {
	Title       *string `json:"title"`
	Description *string `json:"description"`
	Done        *bool   `json:"done"`
}

// clean checks the fields of p that are set against the bounds and trims
// the spaces around the title. A title that is set may not be blank; with
// create, a title is required. The error is for the client.
func (p *taskPatch) clean(create bool) error {
	if p.Title == nil && create {
		return errors.New(`a task needs a "title"`)
	}
	if p.Title != nil {
		title := strings.TrimSpace(*p.Title)
		if title == "" {
			return errors.New(`"title" may not be empty or only spaces`)
		}
		if n := utf8.RuneCountInString(title); n > maxTitleLen {
			return fmt.Errorf(`"title" has %d characters; at most %d are allowed`, n, maxTitleLen)
		}
		p.Title = &title
	}
	if p.Description != nil {
		if n := utf8.RuneCountInString(*p.Description); n > maxDescriptionLen {
			return fmt.Errorf(`"description" has %d characters; at most %d are allowed`, n, maxDescriptionLen)
		}
	}
	return nil
}

// taskAPI serves the JSON API over a taskStore.
type taskAPI struct {
	store *taskStore
}

// register adds the API's routes to mux. GET /tasks, the HTML page, is
// served by the app. Other methods on the API's paths get a JSON 405 with
// Allow, and paths below /tasks/ that name no task a JSON 404, rather than
// the mux's plain-text answers.
func (a *taskAPI) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /tasks/{id}", a.get)
	mux.HandleFunc("POST /tasks", a.create)
	mux.HandleFunc("PUT /tasks/{id}", a.update)
	mux.HandleFunc("DELETE /tasks/{id}", a.delete)
	mux.HandleFunc("/tasks", methodNotAllowed("GET, HEAD, POST"))
	mux.HandleFunc("/tasks/{id}", methodNotAllowed("GET, HEAD, PUT, DELETE"))
	mux.HandleFunc("/tasks/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, errTaskNotFound)
	})
}

// methodNotAllowed returns a handler answering 405 in JSON with the Allow
// header set to allow.
func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed here; allowed: %s", r.Method, allow))
	}
}

// errTaskNotFound is the original app's 404 message.
const errTaskNotFound = "Task not found"

// taskID returns the {id} of the request path, or false when it does not
// name a task (the original app's <int:task_id> route: a 404).
func taskID(r *http.Request) (int, bool) {
	return parseTaskID(r.PathValue("id"))
}

// parseTaskID parses a task id in its one canonical spelling: a positive
// decimal number without sign, leading zeros or spaces, so that /tasks/+1
// and /tasks/01 do not also name task 1 (strconv.Atoi accepts both), and
// of at most 18 digits, so that it cannot overflow.
func parseTaskID(s string) (int, bool) {
	if len(s) == 0 || len(s) > 18 || s[0] == '0' {
		return 0, false
	}
	id := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		id = id*10 + int(c-'0')
	}
	return id, true
}

func (a *taskAPI) get(w http.ResponseWriter, r *http.Request) {
	id, ok := taskID(r)
	var t Task
	if ok {
		t, ok = a.store.get(id)
	}
	if !ok {
		writeError(w, http.StatusNotFound, errTaskNotFound)
		return
	}
	writeJSON(w, http.StatusOK, map[string]Task{"task": t})
}

func (a *taskAPI) create(w http.ResponseWriter, r *http.Request) {
	var p taskPatch
	if status, err := decodeBody(w, r, &p); err != nil {
		writeError(w, status, err.Error())
		return
	}
	if err := p.clean(true); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	t := Task{Title: *p.Title}
	if p.Description != nil {
		t.Description = *p.Description
	}
	if p.Done != nil {
		t.Done = *p.Done
	}
	t, ok := a.store.add(t)
	if !ok {
		writeError(w, http.StatusConflict, fmt.Sprintf("the task list is full (%d tasks); delete one first", maxTasks))
		return
	}
	w.Header().Set("Location", "/tasks/"+strconv.Itoa(t.ID))
	writeJSON(w, http.StatusCreated, map[string]Task{"task": t})
}

func (a *taskAPI) update(w http.ResponseWriter, r *http.Request) {
	id, ok := taskID(r)
	if ok {
		_, ok = a.store.get(id)
	}
	if !ok {
		writeError(w, http.StatusNotFound, errTaskNotFound)
		return
	}
	var p taskPatch
	if status, err := decodeBody(w, r, &p); err != nil {
		writeError(w, status, err.Error())
		return
	}
	if err := p.clean(false); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	t, ok := a.store.update(id, p)
	if !ok { // deleted by a concurrent request since the check above
		writeError(w, http.StatusNotFound, errTaskNotFound)
		return
	}
	writeJSON(w, http.StatusOK, map[string]Task{"task": t})
}

func (a *taskAPI) delete(w http.ResponseWriter, r *http.Request) {
	id, ok := taskID(r)
	if !ok || !a.store.remove(id) {
		writeError(w, http.StatusNotFound, errTaskNotFound)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"result": true})
}

// decodeBody decodes the request's JSON object into v. It returns the status
// to answer with and an error for the client: 400 for a body that is not
// declared as JSON (as Flask's request.json, which also keeps simple
// cross-site form posts out), empty, malformed, of the wrong type or
// followed by more data, and 413 for a body over maxBodyBytes. It never
// yields a 500.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) (int, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return http.StatusBadRequest, errors.New("the body must be JSON, sent with Content-Type: application/json")
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	var raw json.RawMessage
	err = dec.Decode(&raw)
	if err == nil {
		// Read on to the end, so that trailing data or an over-long tail is
		// an error rather than ignored.
		if e := dec.Decode(new(json.RawMessage)); e != io.EOF {
			err = e
			if e == nil {
				err = errors.New("data after the JSON object")
			}
		}
	}
	if err == nil {
		if raw[0] != '{' {
			err = errors.New("the body is not a JSON object")
		} else {
			err = json.Unmarshal(raw, v)
		}
	}
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, fmt.Errorf("the body is over %d bytes", tooBig.Limit)
	case errors.Is(err, io.EOF):
		return http.StatusBadRequest, errors.New("empty body; want a JSON object")
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return http.StatusBadRequest, fmt.Errorf("bad JSON: field %q must be a %s", typeErr.Field, typeErr.Type)
	}
	return http.StatusBadRequest, fmt.Errorf("bad JSON: %v", err)
}

// writeJSON writes v as the JSON response with the status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, "encoding the response failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// writeError writes the original app's error shape, {"error": msg}.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
