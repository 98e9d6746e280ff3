module github.com/labkit/statsigmw/example

go 1.22

require (
	github.com/labkit/statsigmw v0.0.0
	github.com/statsig-io/go-sdk v1.35.1
)

require (
	github.com/google/uuid v1.6.0 // indirect
	github.com/statsig-io/ip3country-go v0.2.0 // indirect
	github.com/ua-parser/uap-go v0.0.0-20211112212520-00c877edfe0f // indirect
	gopkg.in/yaml.v2 v2.4.0 // indirect
)

replace (
	github.com/labkit/statsigmw => ../
	github.com/labkit/statsigmw/redisstore => ../redisstore
)
