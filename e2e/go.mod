module github.com/labkit/statsigmw/e2e

go 1.22

replace github.com/labkit/statsigmw => ../
