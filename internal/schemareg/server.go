package schemareg

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"sync"
)

// ContentType is what a Confluent-compatible registry answers with.
const ContentType = "application/vnd.schemaregistry.v1+json"

// Confluent's error codes (its REST API reference).
const (
	codeSubjectNotFound = 40401
	codeVersionNotFound = 40402
	codeSchemaNotFound  = 40403
	codeInvalidSchema   = 42201
	codeUnauthorized    = 40101
)

// Server is an in-memory Confluent-compatible schema registry (see the
// package doc). The zero value is not usable: use NewServer.
type Server struct {
	user, pass string
	mux        *http.ServeMux

	mu       sync.Mutex
	schemas  []Schema         // by id-1
	subjects map[string][]int // subject -> ids by version-1
	byGUID   map[string]int   // schema version UUID -> id
	byText   map[string]int   // type + "\x00" + text -> id
}

// ServerOpt configures NewServer.
type ServerOpt func(*Server)

// WithServerBasicAuth requires HTTP basic authentication with user and
// pass on every request. Default: none.
func WithServerBasicAuth(user, pass string) ServerOpt {
	return func(s *Server) { s.user, s.pass = user, pass }
}

// NewServer returns an empty registry.
func NewServer(opts ...ServerOpt) *Server {
	s := &Server{mux: http.NewServeMux(), subjects: map[string][]int{}, byGUID: map[string]int{}, byText: map[string]int{}}
	for _, o := range opts {
		o(s)
	}
	s.mux.HandleFunc("POST /subjects/{subject}/versions", s.register)
	s.mux.HandleFunc("POST /subjects/{subject}", s.lookup)
	s.mux.HandleFunc("GET /schemas/ids/{id}", s.schemaByID)
	s.mux.HandleFunc("GET /subjects", s.listSubjects)
	s.mux.HandleFunc("GET /subjects/{subject}/versions", s.listVersions)
	s.mux.HandleFunc("GET /subjects/{subject}/versions/{version}", s.version)
	s.mux.HandleFunc("GET /msklink/glue/schema-versions/{guid}", s.glueVersion)
	return s
}

// ServeHTTP serves the registry's API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.user != "" || s.pass != "" {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(s.user)) != 1 || subtle.ConstantTimeCompare([]byte(p), []byte(s.pass)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="msklink schema registry"`)
			writeError(w, http.StatusUnauthorized, codeUnauthorized, "Unauthorized")
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// Register adds schema text of type typ under subject and returns it with
// its id and version UUID: what POST /subjects/{subject}/versions does.
func (s *Server) Register(subject, typ, text string) (Schema, error) {
	typ, err := ParseType(typ)
	if err != nil {
		return Schema{}, err
	}
	if _, err := compile(Schema{Type: typ, Text: text}); err != nil {
		return Schema{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.byText[typ+"\x00"+text]
	if !ok {
		id = len(s.schemas) + 1
		sc := Schema{ID: id, GUID: newGUID(), Type: typ, Text: text}
		s.schemas = append(s.schemas, sc)
		s.byText[typ+"\x00"+text] = id
		s.byGUID[sc.GUID] = id
	}
	versions := s.subjects[subject]
	for _, v := range versions {
		if v == id {
			return s.schemas[id-1], nil
		}
	}
	s.subjects[subject] = append(versions, id)
	return s.schemas[id-1], nil
}

type schemaBody struct {
	Schema     string `json:"schema"`
	SchemaType string `json:"schemaType,omitempty"`
	References []any  `json:"references,omitempty"`
}

// subjectVersion is Confluent's answer for a subject's version, with the
// schema version UUID msklink adds.
type subjectVersion struct {
	Subject    string `json:"subject"`
	Version    int    `json:"version"`
	ID         int    `json:"id"`
	SchemaType string `json:"schemaType,omitempty"`
	Schema     string `json:"schema"`
	GUID       string `json:"msklinkSchemaVersionId"`
}

func (s *Server) readBody(w http.ResponseWriter, r *http.Request) (schemaBody, bool) {
	var b schemaBody
	data, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err == nil {
		err = json.Unmarshal(data, &b)
	}
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, codeInvalidSchema, "the body is not a schema: "+err.Error())
		return b, false
	}
	if len(b.References) > 0 {
		writeError(w, http.StatusUnprocessableEntity, codeInvalidSchema, "schema references are not supported by msklink's local registry")
		return b, false
	}
	return b, true
}

func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	b, ok := s.readBody(w, r)
	if !ok {
		return
	}
	sc, err := s.Register(r.PathValue("subject"), b.SchemaType, b.Schema)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, codeInvalidSchema, err.Error())
		return
	}
	writeJSON(w, map[string]any{"id": sc.ID, "msklinkSchemaVersionId": sc.GUID})
}

func (s *Server) lookup(w http.ResponseWriter, r *http.Request) {
	b, ok := s.readBody(w, r)
	if !ok {
		return
	}
	typ, err := ParseType(b.SchemaType)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, codeInvalidSchema, err.Error())
		return
	}
	subject := r.PathValue("subject")
	s.mu.Lock()
	defer s.mu.Unlock()
	versions, ok := s.subjects[subject]
	if !ok {
		writeError(w, http.StatusNotFound, codeSubjectNotFound, fmt.Sprintf("Subject '%s' not found.", subject))
		return
	}
	id := s.byText[typ+"\x00"+b.Schema]
	for i, v := range versions {
		if v == id {
			writeJSON(w, s.subjectVersion(subject, i+1, id))
			return
		}
	}
	writeError(w, http.StatusNotFound, codeSchemaNotFound, "Schema not found")
}

func (s *Server) subjectVersion(subject string, version, id int) subjectVersion {
	sc := s.schemas[id-1]
	sv := subjectVersion{Subject: subject, Version: version, ID: id, Schema: sc.Text, GUID: sc.GUID}
	if sc.Type != Avro {
		sv.SchemaType = sc.Type
	}
	return sv
}

func (s *Server) schemaByID(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.PathValue("id"))
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil || id < 1 || id > len(s.schemas) {
		writeError(w, http.StatusNotFound, codeSchemaNotFound, fmt.Sprintf("Schema %s not found", r.PathValue("id")))
		return
	}
	sc := s.schemas[id-1]
	body := schemaBody{Schema: sc.Text}
	if sc.Type != Avro {
		body.SchemaType = sc.Type
	}
	writeJSON(w, body)
}

func (s *Server) listSubjects(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	names := make([]string, 0, len(s.subjects))
	for n := range s.subjects {
		names = append(names, n)
	}
	s.mu.Unlock()
	sort.Strings(names)
	writeJSON(w, names)
}

func (s *Server) listVersions(w http.ResponseWriter, r *http.Request) {
	subject := r.PathValue("subject")
	s.mu.Lock()
	versions, ok := s.subjects[subject]
	n := len(versions)
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, codeSubjectNotFound, fmt.Sprintf("Subject '%s' not found.", subject))
		return
	}
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	writeJSON(w, out)
}

func (s *Server) version(w http.ResponseWriter, r *http.Request) {
	subject, vs := r.PathValue("subject"), r.PathValue("version")
	s.mu.Lock()
	defer s.mu.Unlock()
	versions, ok := s.subjects[subject]
	if !ok {
		writeError(w, http.StatusNotFound, codeSubjectNotFound, fmt.Sprintf("Subject '%s' not found.", subject))
		return
	}
	v, err := strconv.Atoi(vs)
	if vs == "latest" || vs == "-1" {
		v, err = len(versions), nil
	}
	if err != nil || v < 1 || v > len(versions) {
		writeError(w, http.StatusNotFound, codeVersionNotFound, fmt.Sprintf("Version %s not found.", vs))
		return
	}
	writeJSON(w, s.subjectVersion(subject, v, versions[v-1]))
}

// glueVersion answers as Glue's GetSchemaVersion does, for the schema
// version UUID in the path.
func (s *Server) glueVersion(w http.ResponseWriter, r *http.Request) {
	guid := r.PathValue("guid")
	s.mu.Lock()
	id, ok := s.byGUID[guid]
	var sc Schema
	if ok {
		sc = s.schemas[id-1]
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, codeSchemaNotFound, fmt.Sprintf("Schema version %s not found", guid))
		return
	}
	writeJSON(w, glueSchemaVersion{SchemaVersionID: sc.GUID, SchemaDefinition: sc.Text, DataFormat: sc.Type, Status: "AVAILABLE"})
}

// glueSchemaVersion is the part of Glue's GetSchemaVersion output the
// stage reads.
type glueSchemaVersion struct {
	SchemaVersionID  string `json:"SchemaVersionId"`
	SchemaDefinition string `json:"SchemaDefinition"`
	DataFormat       string `json:"DataFormat"`
	Status           string `json:"Status"`
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", ContentType)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error_code": code, "message": msg})
}

func newGUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// SchemaByID returns the schema with that id, or an error wrapping
// ErrNotFound: the Server is a Registry for in-process use.
func (s *Server) SchemaByID(_ context.Context, id int) (Schema, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id < 1 || id > len(s.schemas) {
		return Schema{}, fmt.Errorf("%w: id %d", ErrNotFound, id)
	}
	return s.schemas[id-1], nil
}

// SchemaByGUID returns the schema with that version UUID, or an error
// wrapping ErrNotFound.
func (s *Server) SchemaByGUID(_ context.Context, guid string) (Schema, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.byGUID[guid]
	if !ok {
		return Schema{}, fmt.Errorf("%w: schema version %s", ErrNotFound, guid)
	}
	return s.schemas[id-1], nil
}
