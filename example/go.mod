module github.com/labkit/statsigmw/example

go 1.22

require (
	github.com/labkit/statsigmw v0.0.0
	github.com/labkit/statsigmw/redisstore v0.0.0-00010101000000-000000000000
	github.com/redis/go-redis/v9 v9.17.3
	github.com/statsig-io/go-sdk v1.35.1
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/dgryski/go-rendezvous v0.0.0-20200823014737-9f7001d12a5f // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/statsig-io/ip3country-go v0.2.0 // indirect
	github.com/ua-parser/uap-go v0.0.0-20211112212520-00c877edfe0f // indirect
	gopkg.in/yaml.v2 v2.4.0 // indirect
)

replace (
	github.com/labkit/statsigmw => ../
	github.com/labkit/statsigmw/redisstore => ../redisstore
)
