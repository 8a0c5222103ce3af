package eventfilter_test

import (
	"fmt"

	"github.com/msklink/msklink/esm/eventfilter"
)

func ExampleParse() {
	// As aws lambda create-event-source-mapping --filter-criteria takes it.
	c, err := eventfilter.Parse([]byte(`{"Filters": [{"Pattern": "{\"value\": {\"device_ID\": [{\"prefix\": \"AB\"}]}}"}]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.Match([]byte(`{"device_ID": "AB1234", "session": {"duration": 162}}`)))
	fmt.Println(c.Match([]byte(`{"device_ID": "XY1234"}`)))
	// Output:
	// true
	// false
}

func ExampleCompile_error() {
	_, err := eventfilter.Compile(`{"value": {"Price": [{"numeric": [">", 10, "<=", "20"]}]}}`)
	fmt.Println(err)
	// Output:
	// eventfilter: filter 1: value.Price[0] ("numeric"): element 3: give a number after "<="; got "20"
}
