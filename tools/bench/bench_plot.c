#include "bench_plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SERIES 24

struct series {
	char label[64];
	size_t first; /* index of its first row; rows of a series are matched by label */
};

static void series_label(const struct bench_row *row, char *buf, size_t len)
{
	snprintf(buf, len, "%s %s %ut", row->backend, bench_precision_name(row->precision),
	         row->threads);
}

/* Distinct (backend, precision, threads) with at least one measured row. */
static size_t collect(const struct bench_result *r, struct series *s)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n; i++) {
		if (!r->rows[i].ok)
			continue;
		char label[64];
		series_label(&r->rows[i], label, sizeof(label));
		size_t k = 0;
		while (k < n && strcmp(s[k].label, label))
			k++;
		if (k == n && n < MAX_SERIES) {
			snprintf(s[n].label, sizeof(s[n].label), "%s", label);
			s[n++].first = i;
		}
	}
	return n;
}

static void xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else if (*s == '&')
			fputs("&amp;", f);
		else
			fputc(*s, f);
	}
}

static bool write_svg(const char *path, const struct bench_result *r, const char *title, char *err,
                      size_t errlen)
{
	struct series s[MAX_SERIES];
	size_t ns = collect(r, s);
	double tmin = 1e300, tmax = 0, ymax = 0;
	for (size_t i = 0; i < r->n; i++)
		if (r->rows[i].ok) {
			double t = (double)r->rows[i].T;
			tmin = t < tmin ? t : tmin;
			tmax = t > tmax ? t : tmax;
			ymax = r->rows[i].gflops > ymax ? r->rows[i].gflops : ymax;
		}
	if (ns == 0) {
		snprintf(err, errlen, "--plot %s: no measured rows to plot", path);
		return false;
	}
	FILE *f = fopen(path, "w");
	if (!f) {
		snprintf(err, errlen, "--plot %s: cannot create: %s", path, strerror(errno));
		return false;
	}
	/* Plot area in pixels; x is log2(T), y is GFLOP/s from 0. */
	const double W = 900, H = 520, L = 70, R = 230, TOP = 40, B = 50;
	double lx0 = log2(tmin), lx1 = log2(tmax);
	if (lx1 - lx0 < 1)
		lx1 = lx0 + 1;
	double step = pow(10, floor(log10(ymax > 0 ? ymax : 1))); /* y grid step */
	if (ymax / step < 3)
		step /= 2;
	double ytop = ceil((ymax > 0 ? ymax : 1) * 1.05 / step) * step;
#define PX(t) (L + (log2(t) - lx0) / (lx1 - lx0) * (W - L - R))
#define PY(y) (TOP + (1 - (y) / ytop) * (H - TOP - B))
	fprintf(f,
	        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
	        "font-family=\"sans-serif\" font-size=\"12\">\n"
	        "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
	        W, H);
	fprintf(f, "<text x=\"%.0f\" y=\"22\" font-size=\"15\">", L);
	xml_text(f, title);
	fprintf(f, "</text>\n");
	for (double y = 0; y <= ytop + step / 2; y += step)
		fprintf(f,
		        "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
		        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
		        L, W - R, PY(y), PY(y), L - 6, PY(y) + 4, y);
	for (double t = exp2(ceil(lx0)); t <= tmax * 1.0001; t *= 2)
		fprintf(f,
		        "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>"
		        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n",
		        PX(t), PX(t), (double)TOP, H - B, PX(t), H - B + 16, t);
	fprintf(f,
	        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">T (tokens per call, log "
	        "scale)</text>\n<text transform=\"translate(18 %.1f) rotate(-90)\" "
	        "text-anchor=\"middle\">GFLOP/s</text>\n",
	        (L + W - R) / 2, H - 12, (TOP + H - B) / 2);
	static const char *const colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
	                                     "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
	for (size_t k = 0; k < ns; k++) {
		const char *col = colors[k % 10];
		bool ref = r->rows[s[k].first].kind == BENCH_REFERENCE;
		fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"",
		        col, ref ? " stroke-dasharray=\"6 4\"" : "");
		for (size_t i = 0; i < r->n; i++) {
			char label[64];
			series_label(&r->rows[i], label, sizeof(label));
			if (r->rows[i].ok && !strcmp(label, s[k].label))
				fprintf(f, "%.1f,%.1f ", PX((double)r->rows[i].T),
				        PY(r->rows[i].gflops));
		}
		fprintf(f, "\"/>\n");
		for (size_t i = 0; i < r->n; i++) {
			char label[64];
			series_label(&r->rows[i], label, sizeof(label));
			if (r->rows[i].ok && !strcmp(label, s[k].label))
				fprintf(f,
				        "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
				        PX((double)r->rows[i].T), PY(r->rows[i].gflops), col);
		}
		double ly = TOP + 10 + 18 * (double)k;
		fprintf(f,
		        "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
		        "stroke-width=\"2\"%s/><text x=\"%.1f\" y=\"%.1f\">",
		        W - R + 15, W - R + 40, ly, ly, col, ref ? " stroke-dasharray=\"6 4\"" : "",
		        W - R + 46, ly + 4);
		xml_text(f, s[k].label);
		fprintf(f, "%s</text>\n", ref ? " (ref)" : "");
	}
#undef PX
#undef PY
	fprintf(f, "</svg>\n");
	bool bad = ferror(f);
	if (fclose(f) || bad) {
		snprintf(err, errlen, "--plot %s: write failed", path);
		return false;
	}
	return true;
}

/* PNG through gnuplot: data inline in the script, one block per series. */
static bool write_png(const char *path, const struct bench_result *r, const char *title, char *err,
                      size_t errlen)
{
	struct series s[MAX_SERIES];
	size_t ns = collect(r, s);
	if (ns == 0) {
		snprintf(err, errlen, "--plot %s: no measured rows to plot", path);
		return false;
	}
	FILE *g = popen("gnuplot", "w");
	if (!g) {
		snprintf(err, errlen, "--plot %s: cannot run gnuplot", path);
		return false;
	}
	fprintf(g, "set terminal pngcairo size 900,520\nset output '%s'\n", path);
	fprintf(g,
	        "set title '%s'\nset logscale x 2\nset xlabel 'T'\nset ylabel 'GFLOP/s'\n"
	        "set key outside right\nset grid\nplot ",
	        title);
	for (size_t k = 0; k < ns; k++)
		fprintf(g, "%s'-' with linespoints lw 2 title '%s'", k ? ", " : "", s[k].label);
	fputc('\n', g);
	for (size_t k = 0; k < ns; k++) {
		for (size_t i = 0; i < r->n; i++) {
			char label[64];
			series_label(&r->rows[i], label, sizeof(label));
			if (r->rows[i].ok && !strcmp(label, s[k].label))
				fprintf(g, "%zu %g\n", r->rows[i].T, r->rows[i].gflops);
		}
		fprintf(g, "e\n");
	}
	if (pclose(g) != 0) {
		snprintf(err, errlen, "--plot %s: gnuplot failed", path);
		return false;
	}
	return true;
}

bool bench_plot_check(const char *path, char *err, size_t errlen)
{
	size_t len = strlen(path);
	if (len > 4 && !strcmp(path + len - 4, ".svg"))
		return true;
	if (len > 4 && !strcmp(path + len - 4, ".png")) {
		if (system("command -v gnuplot >/dev/null 2>&1") == 0)
			return true;
		snprintf(err, errlen,
		         "--plot %s: PNG needs gnuplot, which is not installed (Debian: "
		         "gnuplot-nox); use --plot FILE.svg instead",
		         path);
		return false;
	}
	snprintf(err, errlen, "--plot %s: the file name must end in .svg or .png", path);
	return false;
}

bool bench_plot_write(const char *path, const struct bench_result *r, const char *title, char *err,
                      size_t errlen)
{
	if (!bench_plot_check(path, err, errlen))
		return false;
	size_t len = strlen(path);
	if (!strcmp(path + len - 4, ".svg"))
		return write_svg(path, r, title, err, errlen);
	return write_png(path, r, title, err, errlen);
}
