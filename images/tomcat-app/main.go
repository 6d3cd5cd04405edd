// Command tomcat-app is kindlike's offline stand-in for kubeguide/tomcat-app:v1, the
// web app of the textbook's first example (a JSP page on Tomcat reading MySQL). It is
// not Tomcat; it does what the book's demo does, so the lesson works as written:
//
//   - it reads MYSQL_SERVICE_HOST and MYSQL_SERVICE_PORT (defaults mysql and 3306),
//     the Service's address as the lesson's ReplicationController passes it in (a
//     name cluster DNS resolves, or the Service environment variables);
//   - it connects as root with the book's password, 123456 (MYSQL_ROOT_PASSWORD or
//     MYSQL_PASSWORD override it), and creates the database HPE_APP and its table
//     T_USERS with the book's starting rows if they are missing;
//   - on port 8080, /demo/ lists the table's rows, and a form adds one; every replica
//     shares the one MySQL, so a row added through one is seen through the others.
//
// While MySQL cannot be reached (it starts after the web app, say), every page says so
// with 503 and the next request tries again.
package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"html/template"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
)

// The book's database, table and starting rows.
const (
	database = "HPE_APP"
	table    = "T_USERS"
)

var seed = []struct{ name, level string }{
	{"google", "100"}, {"docker", "100"}, {"teacher", "100"}, {"HPE", "100"}, {"our team", "100"}, {"me", "100"},
}

func main() {
	addr := ":8080"
	if p := os.Getenv("PORT"); p != "" {
		addr = ":" + p
	}
	app := newApp(configFromEnv(os.Getenv))
	srv := &http.Server{Addr: addr, Handler: app.routes(), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Printf("tomcat-app (kindlike stand-in) listening on %s; MySQL at %s", addr, app.cfg.Addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

func configFromEnv(getenv func(string) string) *mysql.Config {
	host, port := getenv("MYSQL_SERVICE_HOST"), getenv("MYSQL_SERVICE_PORT")
	if host == "" {
		host = "mysql"
	}
	if port == "" {
		port = "3306"
	}
	password := "123456"
	for _, k := range []string{"MYSQL_ROOT_PASSWORD", "MYSQL_PASSWORD"} {
		if v := getenv(k); v != "" {
			password = v
			break
		}
	}
	user := "root"
	if v := getenv("MYSQL_USER"); v != "" {
		user = v
	}
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.User, cfg.Passwd = "tcp", net.JoinHostPort(host, port), user, password
	cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = 3*time.Second, 5*time.Second, 5*time.Second
	return cfg
}

// app is the web app: the database, opened and prepared on first success.
type app struct {
	cfg      *mysql.Config
	hostname string

	mu sync.Mutex
	db *sql.DB // nil until MySQL answered and the table exists
}

func newApp(cfg *mysql.Config) *app {
	host, _ := os.Hostname()
	return &app{cfg: cfg, hostname: host}
}

// database returns the prepared database, connecting and creating the table first if
// need be; the error says what failed.
func (a *app) database(ctx context.Context) (*sql.DB, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.db != nil {
		return a.db, nil
	}
	server, err := sql.Open("mysql", a.cfg.FormatDSN())
	if err != nil {
		return nil, err
	}
	defer server.Close()
	stmts := []string{
		"CREATE DATABASE IF NOT EXISTS " + database,
		"CREATE TABLE IF NOT EXISTS " + database + "." + table +
			" (ID INT AUTO_INCREMENT PRIMARY KEY, USER_NAME VARCHAR(64) NOT NULL, LEVEL VARCHAR(32) NOT NULL)",
	}
	for _, s := range stmts {
		if _, err := server.ExecContext(ctx, s); err != nil {
			return nil, err
		}
	}
	// The starting rows have fixed IDs: replicas that start together insert them once.
	for i, r := range seed {
		if _, err := server.ExecContext(ctx, "INSERT IGNORE INTO "+database+"."+table+" (ID, USER_NAME, LEVEL) VALUES (?, ?, ?)", i+1, r.name, r.level); err != nil {
			return nil, err
		}
	}
	cfg := a.cfg.Clone()
	cfg.DBName = database
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return nil, err
	}
	db.SetConnMaxLifetime(time.Minute)
	a.db = db
	log.Printf("connected to MySQL at %s; table %s.%s ready", a.cfg.Addr, database, table)
	return db, nil
}

// forget drops a connection that failed, so the next request connects again (MySQL
// may have been replaced by a new pod).
func (a *app) forget(db *sql.DB) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.db == db {
		a.db = nil
		_ = db.Close()
	}
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/demo/", http.StatusFound)
	})
	mux.HandleFunc("GET /demo/{$}", a.list)
	mux.HandleFunc("GET /demo/index.jsp", a.list)
	mux.HandleFunc("GET /demo/input.html", a.input)
	mux.HandleFunc("POST /demo/{$}", a.add)
	mux.HandleFunc("POST /demo/index.jsp", a.add)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	return mux
}

type row struct{ Name, Level string }

var pages = template.Must(template.New("list").Parse(`<!DOCTYPE html>
<html><head><title>HPE University Docker&amp;Kubernetes Learning</title></head>
<body>
<h2>Congratulations!!</h2>
<p>This page comes from kindlike's offline stand-in for <code>kubeguide/tomcat-app:v1</code>
(not Tomcat), served by pod <b>{{.Host}}</b>; the rows come from MySQL at <code>{{.MySQL}}</code>.</p>
<table border="1" cellpadding="4">
<tr><th>Name</th><th>Level(Score)</th></tr>
{{range .Rows}}<tr><td>{{.Name}}</td><td>{{.Level}}</td></tr>
{{end}}</table>
<p><a href="input.html">Add...</a></p>
</body></html>
`))

var inputPage = template.Must(template.New("input").Parse(`<!DOCTYPE html>
<html><head><title>Add a record</title></head>
<body>
<h2>Add a record</h2>
<form method="post" action="/demo/">
<p>Name: <input type="text" name="userName"></p>
<p>Level(Score): <input type="text" name="level"></p>
<p><input type="submit" value="Submit"></p>
</form>
</body></html>
`))

var errorPage = template.Must(template.New("error").Parse(`<!DOCTYPE html>
<html><head><title>MySQL unreachable</title></head>
<body>
<h2>Cannot reach MySQL at {{.MySQL}}</h2>
<p>{{.Err}}</p>
<p>Pod {{.Host}} tries again on the next request. Is the mysql Service there, with a
ready pod behind it (<code>kubectl get svc,ep mysql</code>)?</p>
</body></html>
`))

func (a *app) list(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	db, err := a.database(ctx)
	if err != nil {
		a.unreachable(w, err)
		return
	}
	rows, err := db.QueryContext(ctx, "SELECT USER_NAME, LEVEL FROM "+table+" ORDER BY ID")
	if err != nil {
		a.forget(db)
		a.unreachable(w, err)
		return
	}
	defer rows.Close()
	var out []row
	for rows.Next() {
		var x row
		if err := rows.Scan(&x.Name, &x.Level); err != nil {
			a.unreachable(w, err)
			return
		}
		out = append(out, x)
	}
	if err := rows.Err(); err != nil {
		a.forget(db)
		a.unreachable(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = pages.Execute(w, map[string]any{"Host": a.hostname, "MySQL": a.cfg.Addr, "Rows": out})
}

func (a *app) input(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = inputPage.Execute(w, nil)
}

func (a *app) add(w http.ResponseWriter, r *http.Request) {
	name, level := strings.TrimSpace(r.FormValue("userName")), strings.TrimSpace(r.FormValue("level"))
	if name == "" || level == "" || len(name) > 64 || len(level) > 32 {
		http.Error(w, "userName (up to 64 characters) and level (up to 32) are both required", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	db, err := a.database(ctx)
	if err != nil {
		a.unreachable(w, err)
		return
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO "+table+" (USER_NAME, LEVEL) VALUES (?, ?)", name, level); err != nil {
		a.forget(db)
		a.unreachable(w, err)
		return
	}
	log.Printf("added %q (level %s)", name, level)
	http.Redirect(w, r, "/demo/", http.StatusSeeOther)
}

func (a *app) unreachable(w http.ResponseWriter, err error) {
	log.Printf("MySQL at %s: %v", a.cfg.Addr, err)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusServiceUnavailable)
	_ = errorPage.Execute(w, map[string]any{"Host": a.hostname, "MySQL": a.cfg.Addr, "Err": err.Error()})
}
