module github.com/labkit/statsigmw/e2e

go 1.25

replace github.com/labkit/statsigmw => ../

require (
	github.com/chromedp/chromedp v0.23.0
	github.com/labkit/statsigmw v0.0.0-00010101000000-000000000000
)

require (
	github.com/chromedp/cdproto v0.159.0 // indirect
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/statsig-io/go-sdk v1.35.1 // indirect
	github.com/statsig-io/ip3country-go v0.2.0 // indirect
	github.com/ua-parser/uap-go v0.0.0-20211112212520-00c877edfe0f // indirect
	gopkg.in/yaml.v2 v2.4.0 // indirect
)
