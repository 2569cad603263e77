package main

import (
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
)

// proxyTo forwards admitted requests to the backend at raw.
func proxyTo(raw string) http.Handler {
	u, err := url.Parse(raw)
	if err != nil {
		log.Fatalf("-backend %q: %v", raw, err)
	}
	return httputil.NewSingleHostReverseProxy(u)
}
