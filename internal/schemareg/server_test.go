package schemareg_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/msklink/msklink/internal/schemareg"
)

func call(t *testing.T, method, url, body string, auth ...string) (int, map[string]any, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", schemareg.ContentType)
	if len(auth) == 2 {
		req.SetBasicAuth(auth[0], auth[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return resp.StatusCode, m, strings.TrimSpace(string(b))
}

func jsonBody(schema, typ string) string {
	b, _ := json.Marshal(map[string]string{"schema": schema, "schemaType": typ})
	return string(b)
}

// TestServerAPI: the endpoints a Confluent client uses, with Confluent's
// answers and error codes.
func TestServerAPI(t *testing.T) {
	hs := httptest.NewServer(schemareg.NewServer())
	defer hs.Close()
	u := hs.URL

	st, m, _ := call(t, "POST", u+"/subjects/orders-value/versions", jsonBody(orderAvro, ""))
	if st != 200 || m["id"] != 1.0 || m["msklinkSchemaVersionId"] == "" {
		t.Fatalf("register: %d %v", st, m)
	}
	// The same schema again keeps its id and version; another is id 2.
	if st, m, _ = call(t, "POST", u+"/subjects/orders-value/versions", jsonBody(orderAvro, "AVRO")); st != 200 || m["id"] != 1.0 {
		t.Fatalf("register again: %d %v", st, m)
	}
	if st, m, _ = call(t, "POST", u+"/subjects/stamps-value/versions", jsonBody(stampProto, "PROTOBUF")); st != 200 || m["id"] != 2.0 {
		t.Fatalf("register protobuf: %d %v", st, m)
	}
	if st, m, _ = call(t, "POST", u+"/subjects/orders-value/versions", jsonBody(orderJSONSchema, "JSON")); st != 200 || m["id"] != 3.0 {
		t.Fatalf("register JSON Schema: %d %v", st, m)
	}
	for _, tc := range []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"GET", "/schemas/ids/2", "", 200, `"schemaType":"PROTOBUF"`},
		{"GET", "/schemas/ids/1", "", 200, `"schema":"{\"type\":\"record\"`},
		{"GET", "/schemas/ids/9", "", 404, `"error_code":40403`},
		{"GET", "/subjects", "", 200, `["orders-value","stamps-value"]`},
		{"GET", "/subjects/orders-value/versions", "", 200, `[1,2]`},
		{"GET", "/subjects/orders-value/versions/latest", "", 200, `"version":2,"id":3,"schemaType":"JSON"`},
		{"GET", "/subjects/orders-value/versions/1", "", 200, `"subject":"orders-value","version":1,"id":1`},
		{"GET", "/subjects/orders-value/versions/3", "", 404, `"error_code":40402`},
		{"GET", "/subjects/nope/versions", "", 404, `"error_code":40401`},
		{"POST", "/subjects/orders-value", jsonBody(orderAvro, ""), 200, `"version":1,"id":1`},
		{"POST", "/subjects/orders-value", jsonBody(stampProto, "PROTOBUF"), 404, `"error_code":40403`},
		{"POST", "/subjects/x/versions", jsonBody(`{"type":"record"}`, "AVRO"), 422, `"error_code":42201,"message":"invalid Avro schema`},
		{"POST", "/subjects/x/versions", jsonBody(`syntax = "proto3"; message {`, "PROTOBUF"), 422, `invalid Protobuf schema`},
		{"POST", "/subjects/x/versions", jsonBody(`{"type": 12}`, "JSON"), 422, `invalid JSON Schema`},
		{"POST", "/subjects/x/versions", jsonBody(orderAvro, "XML"), 422, `schemaType \"XML\": use AVRO, PROTOBUF or JSON`},
	} {
		st, _, body := call(t, tc.method, u+tc.path, tc.body)
		if st != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("%s %s: %d %s, want %d with %s", tc.method, tc.path, st, body, tc.status, tc.want)
		}
	}
}

// TestClient: the client reads the local registry, over basic auth when
// it asks for it, and names the registry and the fix when it cannot.
func TestClient(t *testing.T) {
	srv := schemareg.NewServer(schemareg.WithServerBasicAuth("alice", "s3cret"))
	hs := httptest.NewServer(srv)
	defer hs.Close()
	s, err := srv.Register("orders-value", "JSON", orderJSONSchema)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	cl, _ := schemareg.NewClient(hs.URL, schemareg.WithBasicAuth("alice", "s3cret"))
	for _, get := range []func() (schemareg.Schema, error){
		func() (schemareg.Schema, error) { return cl.SchemaByID(ctx, s.ID) },
		func() (schemareg.Schema, error) { return cl.SchemaByGUID(ctx, s.GUID) },
	} {
		got, err := get()
		if err != nil || got.Type != schemareg.JSON || got.Text != orderJSONSchema {
			t.Errorf("got %+v, %v", got, err)
		}
	}
	if _, err := cl.SchemaByID(ctx, 7); !errors.Is(err, schemareg.ErrNotFound) || !strings.Contains(err.Error(), "/schemas/ids/7: HTTP 404 error_code 40403") {
		t.Errorf("unknown id: %v", err)
	}

	anon, _ := schemareg.NewClient(hs.URL)
	_, err = anon.SchemaByID(ctx, s.ID)
	if errors.Is(err, schemareg.ErrNotFound) || err == nil || !strings.Contains(err.Error(), "HTTP 401") || !strings.Contains(err.Error(), "--schema-registry-auth") {
		t.Errorf("without credentials: %v", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	down, _ := schemareg.NewClient(dead)
	_, err = down.SchemaByID(ctx, 1)
	if err == nil || errors.Is(err, schemareg.ErrNotFound) || !strings.Contains(err.Error(), "schema registry "+dead+"/schemas/ids/1") || !strings.Contains(err.Error(), "MSK_SCHEMA_REGISTRY_URL") {
		t.Errorf("unreachable: %v", err)
	}

	for _, bad := range []string{"127.0.0.1:8081", "ftp://x", "http://u:p@127.0.0.1:8081"} {
		if _, err := schemareg.NewClient(bad); err == nil || strings.Contains(err.Error(), ":p@") {
			t.Errorf("NewClient(%q): %v", bad, err)
		}
	}
}
