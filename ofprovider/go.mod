module github.com/labkit/statsigmw/ofprovider

go 1.26.0

replace github.com/labkit/statsigmw => ../

require (
	github.com/labkit/statsigmw v0.0.0-00010101000000-000000000000
	github.com/open-feature/go-sdk v1.20.0
	github.com/statsig-io/go-sdk v1.35.1
)

require (
	github.com/google/uuid v1.6.0 // indirect
	github.com/statsig-io/ip3country-go v0.2.0 // indirect
	github.com/ua-parser/uap-go v0.0.0-20211112212520-00c877edfe0f // indirect
	go.uber.org/mock v0.6.0 // indirect
	gopkg.in/yaml.v2 v2.4.0 // indirect
)
